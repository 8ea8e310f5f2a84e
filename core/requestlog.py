"""Request ids and the access log: one line per HTTP request and per WebSocket, each
log line of a request carrying its id.

- Every HTTP request and WebSocket handshake gets an id: the client's `X-Request-ID`
  when it is sane (1-128 characters of letters, digits and `-_.:@+=/`), else a new
  one. HTTP answers return it in `X-Request-ID`; a WebSocket's accept carries it too.
- The id lives in a contextvar for the request (the view, its threads through
  `sync_to_async`, a socket's whole life: each connection is its own task), and
  `RequestIdFilter` puts it on every log record (`%(request_id)s`, "-" outside one).
- This module writes the access log (logger `tombola.access`): one line per HTTP
  request (`GET /api/x 404 3ms`), one per WebSocket accepted, refused or closed.
  daphne's own access log is off under `manage.py serve`, and Django's
  `django.request` logger only reports 5xx (settings.LOGGING): before, each 4xx was
  written twice, by django.request's warning and by the access log.
- `LOG_FORMAT=json`: one JSON object per line (`JsonFormatter`), for log shippers.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from core.accesslog import redact

HEADER = "X-Request-ID"
_SANE = re.compile(r"[A-Za-z0-9\-_.:@+=/]{1,128}\Z")

current_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "request_id", default=None)
access_logger = logging.getLogger("tombola.access")


def request_id_from(value: str | bytes | None) -> str:
    """The client's id when sane, else a new one (32 hex digits)."""
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    if value and _SANE.match(value):
        return value
    return uuid.uuid4().hex


def request_id_middleware(get_response: Callable) -> Callable:
    """First in both middleware chains (core/http.py): the id, the header, the access line."""

    def middleware(request):
        request_id = request_id_from(request.META.get("HTTP_X_REQUEST_ID"))
        token = current_request_id.set(request_id)
        started = time.perf_counter()
        try:
            response = get_response(request)
            response[HEADER] = request_id
            _log_http(request, response.status_code, started)
            return response
        finally:
            current_request_id.reset(token)

    return middleware


def _log_http(request, status: int, started: float) -> None:
    level = logging.ERROR if status >= 500 else (
        logging.WARNING if status >= 400 else logging.INFO)
    path = redact(request.get_full_path())
    elapsed_ms = (time.perf_counter() - started) * 1000
    access_logger.log(level, "%s %s %s %.0fms", request.method, path, status, elapsed_ms,
                      extra={"method": request.method, "path": path, "status": status,
                             "duration_ms": round(elapsed_ms, 1)})


class WebSocketRequestId:
    """ASGI middleware for WebSockets: the handshake's id for the socket's whole life,
    returned in the accept's headers; the access lines of the socket."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "websocket":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        request_id = request_id_from(headers.get(HEADER.lower().encode()))
        current_request_id.set(request_id)  # this connection's task only
        path = scope.get("path", "")
        query = scope.get("query_string", b"").decode("latin-1")
        target = redact(f"{path}?{query}" if query else path)
        state = {"accepted": False, "closed": False}

        async def sending(message):
            kind = message.get("type")
            if kind == "websocket.accept":
                message = {**message, "headers": [
                    *message.get("headers", []),
                    (HEADER.lower().encode(), request_id.encode())]}
                state["accepted"] = True
                access_logger.info("WSCONNECT %s", target, extra={"path": target})
            elif kind == "websocket.close" and not state["closed"]:
                state["closed"] = True
                code = message.get("code", 1000)
                if state["accepted"]:
                    access_logger.info("WSCLOSE %s %s", target, code,
                                       extra={"path": target, "status": code})
                else:
                    access_logger.warning("WSREJECT %s %s", target, code,
                                          extra={"path": target, "status": code})
            await send(message)

        async def receiving():
            message = await receive()
            if message.get("type") == "websocket.disconnect" and not state["closed"]:
                state["closed"] = True
                if state["accepted"]:
                    code = message.get("code", 1000)
                    access_logger.info("WSDISCONNECT %s %s", target, code,
                                       extra={"path": target, "status": code})
            return message

        return await self.app(scope, receiving, sending)


class RequestIdFilter(logging.Filter):
    """Puts the current request's id on every record (`-` outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id.get() or "-"
        return True


# LogRecord attributes that are not "extra" fields.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, request_id,
    the record's extra fields (method, path, status, duration_ms, ...), exc_info."""

    def format(self, record: logging.LogRecord) -> str:
        body: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or "-",
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in body:
                body[key] = value
        if record.exc_info:
            body["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(body, default=str)
