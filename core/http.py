"""HTTP under daphne without the ASGI middleware trap: Django's WSGI handler on a fixed pool.

Django's ASGIHandler runs every sync middleware hook through `sync_to_async` and
opens a fresh thread per request (a `ThreadSensitiveContext` each): 15-20 thread
hand-offs before our code runs, and a new database connection per request
because no thread lives long enough to keep one (docs/decisions/
2026-11-30-http-path.md has the measurements). Here each request costs one hop:
the body is read on the event loop, then the whole WSGI chain (middleware, view,
the response's iteration) runs in one of `HTTP_THREADS` long-lived threads, each
with a database connection from the worker's pool (`DB_POOL`; or its own persistent
one, `CONN_MAX_AGE`, with the pool off), and response chunks
go back to the loop.

`sync_to_async(thread_sensitive=False, executor=...)` rather than a bare
`run_in_executor`: asgiref then records the server's loop for the thread, so
`async_to_sync` inside a view (the channel layer's `group_send`, the in-memory
layer's queues) runs on the loop that owns those objects, exactly as under
Django's ASGIHandler.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from asgiref.sync import async_to_sync, sync_to_async
from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler
from django.test.utils import override_settings

Scope = dict[str, Any]


class WsgiOnThreadPool:
    """An ASGI `http` application serving a WSGI application from a fixed thread pool."""

    def __init__(self, wsgi_app: Callable, *, threads: int) -> None:
        self.wsgi_app = wsgi_app
        self.executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="http")
        self._run = sync_to_async(self._serve, thread_sensitive=False, executor=self.executor)
        # Requests being served, read by `serve` to drain on SIGTERM (only the loop writes it).
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":  # lifespan and anything else: not ours
            return
        body = await _read_body(receive)
        if body is None:  # the client went away before its body arrived
            return
        # Set when the client disconnects or daphne cancels us: a streaming answer
        # (an export) stops producing rows nobody will read, and frees its thread.
        gone = threading.Event()
        watcher = asyncio.ensure_future(_watch_disconnect(receive, gone))
        self.in_flight += 1
        served = asyncio.ensure_future(self._run(scope, body, send, gone))
        try:
            try:
                # Shielded: on a cancel the thread is told to stop, and waited for
                # below, so `in_flight` and the body file outlive it, not the reverse.
                status, headers, chunks = await asyncio.shield(served)
            except asyncio.CancelledError:
                gone.set()
                await asyncio.wait({served})
                raise
            if chunks is not None:  # a whole answer: sent from here, no hop back per message
                await send({"type": "http.response.start", "status": status,
                            "headers": headers})
                await send({"type": "http.response.body", "body": b"".join(chunks)})
        finally:
            watcher.cancel()
            body.close()
            self.in_flight -= 1

    def _serve(self, scope: Scope, body, send: Callable, gone: threading.Event):
        """On a pool thread: run the WSGI app.

        Returns (status, headers, chunks) for an ordinary response, which the loop
        sends; a streaming one (exports) is sent from here as it is produced, in
        batches of STREAM_BATCH_BYTES, until it ends or the client is gone, and
        returns chunks=None. A HEAD request gets the headers only (daphne would
        write a streamed body after them).
        """
        started: dict[str, Any] = {}

        def start_response(status: str, headers: list[tuple[str, str]], exc_info=None):
            started["status"] = int(status.split(" ", 1)[0])
            started["headers"] = [
                (name.lower().encode("latin1"), value.encode("latin1")) for name, value in headers
            ]
            return lambda data: None  # the legacy write() callable; Django never uses it

        result = self.wsgi_app(_environ(scope, body), start_response)
        try:
            head_only = scope["method"] == "HEAD"
            if not getattr(result, "streaming", False):
                chunks = [] if head_only else list(result)
                return started["status"], started["headers"], chunks
            reply = async_to_sync(send)
            reply({"type": "http.response.start", "status": started["status"],
                   "headers": started["headers"]})
            batch: list[bytes] = []
            size = 0
            for chunk in () if head_only else result:
                if gone.is_set():
                    return started["status"], started["headers"], None
                if chunk:
                    batch.append(chunk)
                    size += len(chunk)
                if size >= STREAM_BATCH_BYTES:
                    reply({"type": "http.response.body", "body": b"".join(batch),
                           "more_body": True})
                    batch, size = [], 0
            reply({"type": "http.response.body", "body": b"".join(batch), "more_body": False})
            return started["status"], started["headers"], None
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()  # Django's request_finished: connections returned or closed here


# A streamed answer (a CSV export: one row per chunk) goes to the loop in batches of
# this size, not one hop per row.
STREAM_BATCH_BYTES = 64 * 1024


async def _watch_disconnect(receive: Callable, gone: threading.Event) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    gone.set()


async def _read_body(receive: Callable):
    """The request body in a spooled file (memory first, disk past the upload limit)."""
    # Closed by the caller once the request is served (or here, on a disconnect).
    body = tempfile.SpooledTemporaryFile(  # noqa: SIM115
        max_size=settings.FILE_UPLOAD_MAX_MEMORY_SIZE, mode="w+b")
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            body.close()
            return None
        if chunk := message.get("body"):
            body.write(chunk)
        if not message.get("more_body", False):
            body.seek(0)
            return body


def _latin1(value: str) -> str:
    """A decoded ASGI path as WSGI wants it: its UTF-8 bytes read as latin-1 (PEP 3333)."""
    return value.encode("utf-8").decode("latin-1")


def _environ(scope: Scope, body) -> dict[str, Any]:
    root = scope.get("root_path", "")
    path = scope["path"]
    if root and path.startswith(root):
        path = path[len(root):]
    server = scope.get("server") or ("localhost", 80)
    client = scope.get("client") or ("", 0)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": _latin1(root),
        "PATH_INFO": _latin1(path),
        "QUERY_STRING": scope.get("query_string", b"").decode("latin-1"),
        "SERVER_NAME": str(server[0]),
        "SERVER_PORT": str(server[1] or 80),
        "SERVER_PROTOCOL": f"HTTP/{scope.get('http_version', '1.1')}",
        "REMOTE_ADDR": client[0] or "",
        "REMOTE_PORT": str(client[1] or 0),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": body,
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    for raw_name, raw_value in scope.get("headers", []):
        name = raw_name.decode("latin-1").upper().replace("-", "_")
        value = raw_value.decode("latin-1")
        key = name if name in ("CONTENT_TYPE", "CONTENT_LENGTH") else f"HTTP_{name}"
        if key in environ:  # repeated headers fold into one, cookies with "; "
            value = environ[key] + ("; " if key == "HTTP_COOKIE" else ",") + value
        environ[key] = value
    # The body is read whole already: its size is the length (a chunked upload
    # has no Content-Length, and Django would read nothing without one).
    environ["CONTENT_LENGTH"] = str(_size(body))
    return environ


def _size(body) -> int:
    here = body.tell()
    end = body.seek(0, 2)
    body.seek(here)
    return end


class TokenAPIHandler(WSGIHandler):
    """Django's WSGI handler built with TOKEN_API_MIDDLEWARE: no sessions, CSRF, messages.

    For requests that authenticate with a bearer token (DRF's JWT
    authentication): none of that browser state can matter to them, and each
    of those middleware costs every request some work.
    """

    def load_middleware(self, is_async: bool = False) -> None:
        # Django builds the chain from settings.MIDDLEWARE only; override it for
        # the one call, at start-up, before any request runs.
        with override_settings(MIDDLEWARE=settings.TOKEN_API_MIDDLEWARE):
            super().load_middleware(is_async)
        self.middleware_paths = list(settings.TOKEN_API_MIDDLEWARE)


def token_api_dispatch(browser: Callable, token_api: Callable) -> Callable:
    """A WSGI app: /api/ requests with a bearer token go to `token_api`, the rest to `browser`."""
    schemes = tuple(f"{kind} ".encode("latin-1").lower()
                    for kind in settings.SIMPLE_JWT.get("AUTH_HEADER_TYPES", ("Bearer",)))

    def app(environ: dict[str, Any], start_response: Callable):
        header = environ.get("HTTP_AUTHORIZATION", "").encode("latin-1").lower()
        if environ.get("PATH_INFO", "").startswith("/api/") and header.startswith(schemes):
            return token_api(environ, start_response)
        return browser(environ, start_response)

    return app


def http_application():
    """The ASGI `http` app `routing.py` serves: the pool (default) or Django's ASGIHandler.

    `HTTP_HANDLER=asgi` keeps Django's own handler selectable, so a benchmark can
    measure both in one run.
    """
    if settings.HTTP_HANDLER == "asgi":
        from django.core.asgi import get_asgi_application

        app = get_asgi_application()
        if settings.DEBUG:
            from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

            app = ASGIStaticFilesHandler(app)
        return app
    wsgi = token_api_dispatch(WSGIHandler(), TokenAPIHandler())
    if settings.DEBUG:
        # `make run` serves the admin's and API docs' static files itself, as
        # runserver would; in production nginx serves /static/ (deploy/nginx.conf).
        from django.contrib.staticfiles.handlers import StaticFilesHandler

        wsgi = StaticFilesHandler(wsgi)
    return WsgiOnThreadPool(wsgi, threads=settings.HTTP_THREADS)
