"""The front door of scripts/stack (deploy/balancer.py): the TCP balancer and the nginx config."""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from deploy.balancer import nginx_config
from deploy.stack import free_port

ROOT = Path(__file__).resolve().parent.parent


def backend(name: str) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: a client's connection stays open

        def do_GET(self):
            body = name.encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def wait_listening(port: int, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        assert process.poll() is None, process.returncode
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError("balancer not listening")


def test_the_tcp_balancer_spreads_connections_and_skips_a_dead_backend():
    one, two = backend("one"), backend("two")
    dead = free_port()  # nothing listens there
    port = free_port()
    argv = [sys.executable, "-m", "deploy.balancer", "--listen", f"127.0.0.1:{port}"]
    for address in (f"127.0.0.1:{dead}", f"127.0.0.1:{one.server_port}",
                    f"127.0.0.1:{two.server_port}"):
        argv += ["--backend", address]
    process = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL)
    try:
        wait_listening(port, process)
        # Held open at once: least connections puts them on different backends.
        clients = [httpx.Client(base_url=f"http://127.0.0.1:{port}") for _ in range(4)]
        answers = [client.get("/").text for client in clients]
        for client in clients:
            client.close()
    finally:
        process.terminate()
        process.wait(timeout=10)
        one.shutdown()
        two.shutdown()
    assert sorted(answers) == ["one", "one", "two", "two"]


def test_the_nginx_config_is_the_compose_one_with_the_local_workers(tmp_path):
    text = nginx_config(listen="127.0.0.1:18000", backends=["127.0.0.1:8001", "127.0.0.1:8002"],
                        static_root=ROOT / "staticfiles", prefix=tmp_path)
    assert "least_conn;" in text
    assert "server 127.0.0.1:8001 max_fails=2 fail_timeout=5s;" in text
    assert "server 127.0.0.1:8002 max_fails=2 fail_timeout=5s;" in text
    assert "web1:8000" not in text and "listen 127.0.0.1:18000;" in text
    assert "proxy_set_header Upgrade $http_upgrade;" in text  # WebSockets, as in compose
    if not shutil.which("nginx"):
        pytest.skip("nginx is not installed (.ci/run installs it): config not checked by nginx")
    (tmp_path / "nginx.conf").write_text(text)
    checked = subprocess.run(["nginx", "-t", "-c", str(tmp_path / "nginx.conf"),
                              "-p", str(tmp_path)], capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stderr
