"""core/http.py: HTTP served by Django's WSGI handler on a fixed thread pool inside daphne."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from asgiref.sync import async_to_sync
from channels.testing import HttpCommunicator
from django.core.handlers.wsgi import WSGIRequest
from django.http import StreamingHttpResponse

from core.http import WsgiOnThreadPool, http_application
from routing import application


def _app_reporting_threads(seen: list[int]):
    def app(environ, start_response):
        seen.append(threading.get_ident())
        body = environ["wsgi.input"].read()
        start_response("200 OK", [("Content-Type", "text/plain"), ("X-Echo", "1")])
        return [b"path=", environ["PATH_INFO"].encode("latin-1"), b";body=", body]

    return app


async def test_requests_reuse_the_pools_threads():
    seen: list[int] = []
    pool = WsgiOnThreadPool(_app_reporting_threads(seen), threads=2)
    for _ in range(6):
        response = await HttpCommunicator(pool, "POST", "/x", body=b"hi").get_response()
        assert response["status"] == 200
    assert len(seen) == 6
    assert len(set(seen)) <= 2  # no new thread per request: connections can persist


async def test_body_path_query_and_headers_reach_the_wsgi_app():
    captured = {}

    def app(environ, start_response):
        captured.update(environ)
        captured["body"] = environ["wsgi.input"].read()
        start_response("201 Created", [("Content-Type", "application/json")])
        return [b"{}"]

    pool = WsgiOnThreadPool(app, threads=1)
    communicator = HttpCommunicator(
        pool, "PUT", "/caf\u00e9/?q=1", body=b'{"a": 1}',
        headers=[(b"content-type", b"application/json"), (b"x-thing", b"a"), (b"x-thing", b"b"),
                 (b"cookie", b"a=1"), (b"cookie", b"b=2")])
    response = await communicator.get_response()
    assert response["status"] == 201
    assert response["body"] == b"{}"
    assert captured["REQUEST_METHOD"] == "PUT"
    assert captured["PATH_INFO"] == "/caf\u00e9/".encode().decode("latin-1")  # PEP 3333
    assert captured["CONTENT_TYPE"] == "application/json"
    assert captured["HTTP_X_THING"] == "a,b"
    assert captured["HTTP_COOKIE"] == "a=1; b=2"
    assert captured["body"] == b'{"a": 1}'


async def test_a_streaming_answer_arrives_in_order_in_batches():
    rows = [bytes([65 + i]) * 40_000 for i in range(3)] + [b"", b"tail"]

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/csv")])
        return StreamingHttpResponse(iter(rows))

    pool = WsgiOnThreadPool(app, threads=1)
    communicator = HttpCommunicator(pool, "GET", "/")
    await communicator.send_input({"type": "http.request", "body": b""})
    start = await communicator.receive_output(5)
    assert start["type"] == "http.response.start"
    chunks = []
    while True:
        message = await communicator.receive_output(5)
        chunks.append(message["body"])
        if not message.get("more_body"):
            break
    assert b"".join(chunks) == b"".join(rows)
    assert len(chunks) >= 2  # streamed as it is produced, not gathered whole
    assert len(chunks) < len(rows)  # in batches, not a loop hop per row


async def test_async_to_sync_inside_a_view_runs_on_the_servers_loop():
    # The channel layer's group_send and the in-memory layer's queues belong to
    # the server's loop; a view that publishes must reach that loop.
    server_loop = asyncio.get_running_loop()
    seen = {}

    async def where():
        seen["loop"] = asyncio.get_running_loop()

    def app(environ, start_response):
        async_to_sync(where)()
        start_response("204 No Content", [])
        return []

    response = await HttpCommunicator(WsgiOnThreadPool(app, threads=1), "GET", "/").get_response()
    assert response["status"] == 204
    assert seen["loop"] is server_loop


async def test_a_client_gone_before_its_body_arrived_runs_nothing():
    calls = []

    def app(environ, start_response):
        calls.append(1)
        start_response("200 OK", [])
        return [b""]

    communicator = HttpCommunicator(WsgiOnThreadPool(app, threads=1), "POST", "/")
    await communicator.send_input({"type": "http.request", "body": b"part", "more_body": True})
    await communicator.send_input({"type": "http.disconnect"})
    await communicator.wait(timeout=5)
    assert calls == []


def test_the_project_serves_http_through_the_pool_by_default(settings):
    assert settings.HTTP_HANDLER == "pool"
    assert isinstance(http_application(), WsgiOnThreadPool)
    settings.HTTP_HANDLER = "asgi"
    assert not isinstance(http_application(), WsgiOnThreadPool)


@pytest.mark.django_db(transaction=True)
async def test_the_routed_application_answers_json_errors_through_the_pool():
    ok = await HttpCommunicator(application, "GET", "/healthz").get_response()
    assert ok["status"] == 200
    bad = await HttpCommunicator(application, "POST", "/api/accounts/register/", body=b"{",
                                 headers=[(b"content-type", b"application/json")]).get_response()
    assert bad["status"] == 400
    assert b'"code"' in bad["body"]


def test_bearer_requests_to_the_api_skip_the_browser_middleware(settings):
    from core.http import TokenAPIHandler, token_api_dispatch

    handler = TokenAPIHandler()
    assert not set(handler.middleware_paths) & settings.BROWSER_MIDDLEWARE
    assert "core.metrics.MetricsMiddleware" in handler.middleware_paths  # still measured
    assert set(settings.MIDDLEWARE) - set(handler.middleware_paths) == settings.BROWSER_MIDDLEWARE

    chosen = []
    app = token_api_dispatch(lambda env, sr: chosen.append("browser"),
                             lambda env, sr: chosen.append("token"))
    for path, header in [("/api/wallet/", "Bearer x"), ("/api/wallet/", "JWT x"),
                         ("/api/wallet/", "bearer x"), ("/api/wallet/", ""),
                         ("/api/wallet/", "Basic x"), ("/admin/", "Bearer x")]:
        app({"PATH_INFO": path, "HTTP_AUTHORIZATION": header}, None)
    assert chosen == ["token", "token", "token", "browser", "browser", "browser"]


@pytest.mark.django_db(transaction=True)
async def test_the_api_answers_bearer_requests_through_the_lean_chain(user):
    # The dispatch test above shows which chain a request takes; this one that
    # the lean chain still serves the API whole (auth, security headers).
    from asgiref.sync import sync_to_async

    from core.authentication import SessionRefreshToken

    token = await sync_to_async(lambda: str(SessionRefreshToken.for_user(user).access_token))()
    response = await HttpCommunicator(
        application, "GET", "/api/accounts/me/",
        headers=[(b"authorization", f"Bearer {token}".encode()),
                 (b"cookie", b"sessionid=whatever; csrftoken=x")]).get_response()
    assert response["status"] == 200, response["body"]
    headers = dict(response["headers"])
    assert b"set-cookie" not in headers
    assert headers[b"x-frame-options"] == b"DENY"  # security headers still set
    assert headers[b"x-content-type-options"] == b"nosniff"
    assert b'"email"' in response["body"]


async def test_a_chunked_request_body_reaches_the_view():
    # Transfer-Encoding: chunked carries no Content-Length; Django reads only that many.
    seen = {}

    def app(environ, start_response):
        seen["body"] = WSGIRequest(environ).body
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b""]

    response = await HttpCommunicator(
        WsgiOnThreadPool(app, threads=1), "POST", "/api/anything/", body=b'{"a": 1}',
        headers=[(b"content-type", b"application/json"), (b"transfer-encoding", b"chunked")],
    ).get_response()
    assert response["status"] == 200
    assert seen["body"] == b'{"a": 1}'


ROWS = 150


def _slow_export(produced: list[int]):
    def rows():
        for i in range(ROWS):
            produced.append(i)
            time.sleep(0.01)  # a database page of an export
            yield b"x" * 70_000  # one batch per row, so the client sees the first at once

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/csv")])
        return StreamingHttpResponse(rows())

    return app


async def _first_rows(communicator: HttpCommunicator) -> None:
    await communicator.send_input({"type": "http.request", "body": b""})
    assert (await communicator.receive_output(5))["type"] == "http.response.start"
    await communicator.receive_output(5)


async def test_a_streaming_export_stops_when_the_client_disconnects():
    produced: list[int] = []
    pool = WsgiOnThreadPool(_slow_export(produced), threads=1)
    communicator = HttpCommunicator(pool, "GET", "/export.csv")
    await _first_rows(communicator)
    await communicator.send_input({"type": "http.disconnect"})
    await asyncio.wait_for(communicator.future, 10)
    assert len(produced) < ROWS  # the thread stopped producing rows nobody reads
    assert pool.in_flight == 0


async def test_a_cancelled_export_frees_its_thread_before_it_counts_as_done():
    # daphne cancels an application some seconds after its client left.
    produced: list[int] = []
    pool = WsgiOnThreadPool(_slow_export(produced), threads=1)
    communicator = HttpCommunicator(pool, "GET", "/export.csv")
    await _first_rows(communicator)
    communicator.future.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(communicator.future, 10)
    produced_at_cancel = len(produced)
    await asyncio.sleep(0.3)
    assert len(produced) == produced_at_cancel < ROWS  # the thread had stopped already
    assert pool.in_flight == 0


async def test_head_gets_the_headers_of_a_streamed_answer_and_no_body():
    produced: list[int] = []
    response = await HttpCommunicator(
        WsgiOnThreadPool(_slow_export(produced), threads=1), "HEAD", "/export.csv",
    ).get_response()
    assert response["status"] == 200
    assert response["body"] == b""
    assert produced == []  # not one row computed for a HEAD
