"""A real local HTTP server standing in for an SMS provider (http.server in a thread)."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class FakeProvider:
    url: str
    status: int = 200
    delay: float = 0.0
    received: list[dict] = field(default_factory=list)


@contextlib.contextmanager
def sms_provider(status: int = 200, delay: float = 0.0):
    """Yield a FakeProvider whose `received` lists {"headers", "body"} of each POST."""
    provider = FakeProvider(url="", status=status, delay=delay)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("Content-Length", 0))
            raw = self.rfile.read(length)
            provider.received.append({"headers": dict(self.headers), "body": json.loads(raw)})
            if provider.delay:
                time.sleep(provider.delay)
            self.send_response(provider.status)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            with contextlib.suppress(OSError):  # the client may have timed out and gone
                self.wfile.write(b'{"id": "msg-1"}')

        def log_message(self, *args):  # keep the test output quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    provider.url = f"http://127.0.0.1:{server.server_address[1]}/messages"
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield provider
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
