"""`manage.py serve` stops within SHUTDOWN_GRACE_SECONDS, even with a request stuck in flight,
and closes its WebSockets with a close frame (1012) before it stops.

A real worker process, a real request held in a request thread by a failpoint
(core/failpoints.py, `http.readyz`), a real SIGTERM.
"""

import contextlib
import signal
import threading
import time

import httpx
import pytest

from tests.servers import running_server

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

GRACE = 2.0
MARGIN = 6.0  # process teardown on a loaded 2-core machine


def wait_for(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def request_in_background(url: str, *, timeout: float) -> tuple[list, threading.Thread]:
    """GET `url` from a thread; -> (the answer's status or error name, once done; the thread)."""
    answers: list = []

    def get() -> None:
        try:
            answers.append(httpx.get(url, timeout=timeout).status_code)
        except httpx.HTTPError as exc:
            answers.append(type(exc).__name__)

    client = threading.Thread(target=get, daemon=True)
    client.start()
    return answers, client


def test_sigterm_with_a_stuck_request_exits_within_the_grace(tmp_path):
    marker = tmp_path / "failpoints.log"
    with running_server(tmp_path, TOMBOLA_FAILPOINTS="http.readyz=sleep(120)",
                        TOMBOLA_FAILPOINTS_MARKER=str(marker),
                        SHUTDOWN_GRACE_SECONDS=str(GRACE)) as server:
        answers, client = request_in_background(server.url("/readyz"), timeout=60)
        assert wait_for(lambda: marker.exists() and "http.readyz" in marker.read_text(), 20)
        stopped_at = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        try:
            code = server.process.wait(timeout=GRACE + MARGIN)
        except Exception:
            pytest.fail(f"the worker did not exit within {GRACE + MARGIN} s:\n{server.log()}")
        took = time.monotonic() - stopped_at
        assert code == 1, server.log()  # the watchdog's forced exit: not a clean stop
        assert took >= GRACE * 0.9, f"exited after {took:.1f} s: did not wait for the request"
        assert "shutdown grace of 2.0 s is over" in server.log()
        client.join(timeout=10)
        assert answers and answers[0] != 200  # the stuck request was abandoned, not answered


def test_sigterm_when_idle_exits_without_waiting_for_the_grace(tmp_path):
    with running_server(tmp_path, SHUTDOWN_GRACE_SECONDS="30") as server:
        assert httpx.get(server.url("/healthz"), timeout=10).status_code == 200
        stopped_at = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=20) == 0, server.log()
        assert time.monotonic() - stopped_at < 15


def test_sigterm_drains_a_request_in_flight_then_exits(tmp_path):
    """The request in flight is answered; new connections are refused; exit before the grace."""
    marker = tmp_path / "failpoints.log"
    grace = 15.0
    with running_server(tmp_path, TOMBOLA_FAILPOINTS="http.readyz=sleep(2)",
                        TOMBOLA_FAILPOINTS_MARKER=str(marker),
                        SHUTDOWN_GRACE_SECONDS=str(grace)) as server:
        answers, client = request_in_background(server.url("/readyz"), timeout=30)
        assert wait_for(lambda: marker.exists() and "http.readyz" in marker.read_text(), 20)
        stopped_at = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        # Draining: the listener is closed, so a newcomer goes to another worker.
        assert wait_for(lambda: _refused(server.url("/healthz")), 5), server.log()
        server.process.send_signal(signal.SIGTERM)  # a second one changes nothing
        code = server.process.wait(timeout=grace + MARGIN)
        took = time.monotonic() - stopped_at
        client.join(timeout=10)
        assert code == 0, server.log()
        assert answers == [200], (answers, server.log())
        assert took < grace - 5, f"exited after {took:.1f} s: waited past the drained request"
        assert "grace of" not in server.log()
        assert "SIGTERM again: already draining" in server.log()


def test_sigterm_closes_websockets_with_a_service_restart_close_frame(tmp_path):
    """Before it stops the drain closes every WebSocket with 1012 (docs/websocket-protocol.md),
    instead of daphne cancelling the consumers and Twisted dropping the TCP connections
    (1006, no close frame, every client at the same instant)."""
    from websockets.sync.client import connect

    with running_server(tmp_path, SHUTDOWN_GRACE_SECONDS="5") as server, \
            contextlib.ExitStack() as opened:
        sockets = [opened.enter_context(connect(server.ws_url("/ws/health/"), open_timeout=10))
                   for _ in range(3)]
        for ws in sockets:
            assert "hello" in ws.recv(timeout=10)
        server.process.send_signal(signal.SIGTERM)
        for ws in sockets:
            with pytest.raises(Exception):  # noqa: B017 (closed, whichever way)
                while True:
                    ws.recv(timeout=15)
        code = server.process.wait(timeout=20)
        close_codes = [ws.close_code for ws in sockets]
    assert close_codes == [1012] * 3, f"closed with {close_codes} (1006: no close frame)"
    assert code == 0, server.log()


def _refused(url: str) -> bool:
    try:
        httpx.get(url, timeout=1)
    except httpx.ConnectError:
        return True
    except httpx.HTTPError:
        return False
    return False
