"""The quick-start server really serves HTTP and WebSockets (real daphne, real client)."""

import json

import httpx
import pytest
import websockets.sync.client

from tests.servers import running_server

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_real_daphne_serves_health_api_and_websocket(tmp_path):
    with running_server(tmp_path) as server:
        assert httpx.get(server.url("/healthz")).json() == {"status": "ok"}
        ready = httpx.get(server.url("/readyz")).json()
        assert ready["status"] == "ok"
        with websockets.sync.client.connect(
            server.ws_url("/ws/health/"), origin="http://127.0.0.1", open_timeout=5
        ) as ws:
            assert json.loads(ws.recv(timeout=5)) == {"type": "hello"}
            ws.send(json.dumps({"type": "ping"}))
            assert json.loads(ws.recv(timeout=5)) == {"type": "pong"}


def test_real_daphne_refuses_to_start_with_the_dev_key_without_debug(tmp_path):
    with pytest.raises(RuntimeError, match="SECRET_KEY"), running_server(tmp_path, SECRET_KEY=""):
        pass


def test_debug_server_serves_the_admin_stylesheet(tmp_path):
    # `make run` runs with DEBUG=1: the admin must not come out unstyled.
    with running_server(tmp_path, DEBUG="1") as server:
        response = httpx.get(server.url("/static/admin/css/base.css"))
    assert response.status_code == 200
    assert "text/css" in response.headers["content-type"]
