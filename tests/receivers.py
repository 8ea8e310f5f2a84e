"""A real local HTTP server that records what it receives (webhooks, operators, SMS providers)."""

from __future__ import annotations

import contextlib
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)


@dataclass
class Receiver:
    url: str
    requests: list[Received] = field(default_factory=list)
    # Status codes to answer with, in order; the last one repeats.
    statuses: list[int] = field(default_factory=lambda: [200])


@contextlib.contextmanager
def http_receiver(statuses: list[int] | None = None):
    state: dict = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            receiver: Receiver = state["receiver"]
            receiver.requests.append(
                Received(self.path, dict(self.headers.items()), self.rfile.read(length))
            )
            index = min(len(receiver.requests), len(receiver.statuses)) - 1
            status = receiver.statuses[index]
            body = json.dumps({"received": True}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver = Receiver(url=f"http://127.0.0.1:{server.server_address[1]}/hook",
                        statuses=statuses or [200])
    state["receiver"] = receiver
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
