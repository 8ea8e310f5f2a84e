"""The WebSocket protocol's vocabulary: close codes, error codes, client messages.

docs/websocket-protocol.md is the reference; tests/test_ws_protocol_doc.py
checks that page against this module and the consumer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Close codes (4000-4999 is the range RFC 6455 leaves to applications; we
# mirror the HTTP status a REST client would get).
CLOSE_BAD_REQUEST = 4400
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
CLOSE_TOO_MANY_MESSAGES = 4429
# A backing service is down, not the client's fault (RFC 6455's 1013 "Try Again
# Later" is not allowed to applications by daphne: 4xxx like the others, 503-like).
CLOSE_TRY_AGAIN_LATER = 4503
# The worker is restarting (SIGTERM, a deploy): RFC 6455's registered 1012 "Service
# Restart". Sent by consumers/drain.py; daphne lets applications send only 1000 and
# 3000-4999, so `manage.py serve` lets 1012 through (RESTART_CLOSE_CODES there).
CLOSE_SERVICE_RESTART = 1012
# A fault on our side the client could not have avoided (a bug): the socket is
# closed cleanly rather than left half-dead, and the fault is logged.
CLOSE_INTERNAL_ERROR = 4500

CLOSE_CODES = {
    CLOSE_BAD_REQUEST: "the URL or handshake is malformed (bad since, token in the URL, ...)",
    CLOSE_UNAUTHENTICATED: "the token is invalid or expired",
    CLOSE_FORBIDDEN: "the screen key is invalid, or was revoked while connected",
    CLOSE_NOT_FOUND: "no such stream, or no such object (or not, or no longer, visible to "
                     "this viewer)",
    CLOSE_TOO_MANY_MESSAGES: "too many messages (still flooding after being told to slow "
                             "down), or too many open connections for this user or address",
    CLOSE_TRY_AGAIN_LATER: "the database or Redis is unavailable: reconnect with since shortly",
    CLOSE_SERVICE_RESTART: "this worker is restarting: reconnect with since (another worker)",
    CLOSE_INTERNAL_ERROR: "an unexpected server error: reconnect with since after a pause",
}

# The subprotocol a client offers (and the server echoes) to speak this
# protocol; a JWT rides next to it as a second offered subprotocol "jwt.<token>".
SUBPROTOCOL = "tombola.v1"
# Version 2: what a resume replays comes as ONE "replay" frame (all missed
# messages in order) instead of one frame per message. Offered instead of (or
# next to) tombola.v1; the server echoes the newest version offered.
SUBPROTOCOL_V2 = "tombola.v2"
SUBPROTOCOLS = (SUBPROTOCOL_V2, SUBPROTOCOL)  # newest first
TOKEN_SUBPROTOCOL_PREFIX = "jwt."


def negotiated_subprotocol(offered: list[str]) -> str | None:
    """The newest protocol version the client offered, or None (then: version 1)."""
    return next((name for name in SUBPROTOCOLS if name in offered), None)

CLIENT_MESSAGE_TYPES = ("ping", "resume", "auth")


class ProtocolError(Exception):
    """A problem answered with an error frame, and a close when close_code is set."""

    def __init__(self, code: str, detail: str, *, close_code: int | None = None) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.close_code = close_code

    def frame(self) -> dict[str, Any]:
        return {"type": "error", "code": self.code, "detail": self.detail}


UNAVAILABLE_DETAILS = {
    "database_unavailable": "The database is unavailable; reconnect with since shortly.",
    "redis_unavailable": "Redis is unavailable; reconnect with since shortly.",
}


def unavailable_error(exc: BaseException) -> ProtocolError | None:
    """The error frame for a backing service that is down (then close 4503), else None.

    Which outages count is core.errors.backing_service_down, the same as for REST.
    """
    from core.errors import backing_service_down

    code = backing_service_down(exc)
    if code is None:
        return None
    return ProtocolError(code, UNAVAILABLE_DETAILS[code], close_code=CLOSE_TRY_AGAIN_LATER)


def _invalid(detail: str) -> ProtocolError:
    return ProtocolError("invalid_field", detail)


def _non_negative_int(value: Any, name: str) -> int:
    # bool is an int in Python; true is not a seq.
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _invalid(f"'{name}' must be a non-negative integer.")
    return value


def _optional_str(content: dict, name: str) -> str | None:
    value = content.get(name)
    if value is not None and (not isinstance(value, str) or not value):
        raise _invalid(f"'{name}' must be a non-empty string.")
    if value is not None:
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # JSON lets a lone surrogate through ("\ud800")
            raise _invalid(f"'{name}' must be valid text.") from None
    return value


@dataclass(frozen=True)
class Resume:
    since: int
    stream: str | None


@dataclass(frozen=True)
class Auth:
    token: str | None
    screen_key: str | None


@dataclass(frozen=True)
class Ping:
    pass


def parse_client_message(content: Any) -> Resume | Auth | Ping:
    """Validate one decoded client frame; raise ProtocolError saying what is wrong."""
    if not isinstance(content, dict):
        raise ProtocolError("invalid_message", "A message is a JSON object with a 'type'.")
    type_ = content.get("type")
    if not isinstance(type_, str):
        raise ProtocolError("invalid_message", "A message is a JSON object with a 'type'.")
    if type_ == "ping":
        return Ping()
    if type_ == "resume":
        if "since" not in content:
            raise _invalid("'since' is required.")
        return Resume(
            since=_non_negative_int(content["since"], "since"),
            stream=_optional_str(content, "stream"),
        )
    if type_ == "auth":
        auth = Auth(token=_optional_str(content, "token"),
                    screen_key=_optional_str(content, "screen_key"))
        if auth.token is None and auth.screen_key is None:
            raise _invalid("Send 'token' or 'screen_key'.")
        return auth
    raise ProtocolError(
        "unknown_type",
        f"Unknown message type {type_[:40]!r}; expected one of {', '.join(CLIENT_MESSAGE_TYPES)}.",
    )


def parse_since(raw: str | None) -> int | None:
    """The ?since= query parameter: absent, or a non-negative integer."""
    if raw is None:
        return None
    # isascii: "²".isdigit() is True but int("²") raises; 18 digits fit any seq.
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 18):
        raise ProtocolError("invalid_since", "'since' must be a non-negative integer.",
                            close_code=CLOSE_BAD_REQUEST)
    return int(raw)
