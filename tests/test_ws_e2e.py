"""End to end: real daphne, real `websockets` client, resume with since across a disconnect.

On the server run (Redis) messages are published both from this test process
and inside the server (one shared seq and history); on the embedded run the
in-memory layer reaches only the server's own process, so they are published
there, through the test-only app's POST /e2e/publish/ (tests/ws_e2e/).
"""

import itertools
import json

import httpx
import pytest
import websockets.sync.client

from core import streams
from tests.servers import running_server

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

STREAM = "event:42"
HISTORY = 5


def recv(ws, timeout=5):
    frame = json.loads(ws.recv(timeout=timeout))
    while frame["type"] == "heartbeat":
        frame = json.loads(ws.recv(timeout=timeout))
    return frame


def assert_silent(ws):
    with pytest.raises(TimeoutError):
        recv(ws, timeout=0.3)


@pytest.fixture(scope="module", params=["group", "relay"])
def server(request, tmp_path_factory, django_db_setup, django_db_blocker):
    # One server per fan-out mode: each test uses its own stream (the embedded
    # server keeps its in-memory history between tests).
    with django_db_blocker.unblock(), running_server(
        tmp_path_factory.mktemp("e2e"), DJANGO_SETTINGS_MODULE="tests.ws_e2e.settings",
        STREAM_HISTORY_LENGTH=str(HISTORY), STREAM_FANOUT=request.param,
    ) as server:
        yield server


@pytest.fixture
def publish(server, settings, request):
    # This process publishes too on the Redis run, in the server's mode.
    settings.STREAM_HISTORY_LENGTH = HISTORY
    settings.STREAM_FANOUT = request.node.callspec.params["server"]
    sources = itertools.count()

    def publish(n, stream=STREAM):
        data = {"n": n}
        if settings.REDIS_URL and next(sources) % 2:
            return streams.publish(stream, "draw.winner", data)
        response = httpx.post(server.url("/e2e/publish/"),
                              json={"stream": stream, "type": "draw.winner", "data": data})
        assert response.status_code == 200
        return response.json()

    return publish


def connect(server, query="", event_id=42):
    return websockets.sync.client.connect(
        server.ws_url(f"/ws/events/{event_id}/{query}"), subprotocols=["tombola.v1"],
        origin="http://127.0.0.1", open_timeout=5,
    )


def test_reconnect_with_since_gets_exactly_the_missed_messages(server, publish):
    with connect(server) as ws:
        assert ws.subprotocol == "tombola.v1"
        snapshot = recv(ws)
        assert snapshot == {**snapshot, "stream": STREAM, "seq": 0, "type": "snapshot",
                            "data": {"id": 42}}
        publish(1)
        publish(2)
        assert [(m["seq"], m["data"]["n"]) for m in (recv(ws), recv(ws))] == [(1, 1), (2, 2)]
    for n in (3, 4, 5):
        publish(n)
    with connect(server, "?since=2") as ws:
        assert [(m["seq"], m["data"]["n"]) for m in (recv(ws), recv(ws), recv(ws))] == [
            (3, 3), (4, 4), (5, 5)]
        assert_silent(ws)
        publish(6)
        assert recv(ws)["seq"] == 6
        assert_silent(ws)


def test_reconnect_past_the_history_gets_a_reset_snapshot(server, publish):
    for n in range(1, HISTORY + 4):
        publish(n, stream="event:43")
    with connect(server, "?since=1", event_id=43) as ws:
        frame = recv(ws)
        assert (frame["type"], frame["seq"], frame["reset"]) == ("snapshot", HISTORY + 3, True)
        assert_silent(ws)
