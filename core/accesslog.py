"""daphne's access log without credentials in URLs (`manage.py serve` installs it).

A venue screen opens ``/screen/events/<id>/?key=<screen key>`` and its WebSocket
``/ws/events/<id>/?key=...``: a key written to the access log is a key anyone
who reads the logs can use until it is revoked. daphne logs each request's
path with its query string, so every action it logs goes through `redact`
first. (A reverse proxy in front keeps its own access log: configure it the
same way, docs/security.md.) Tokens are refused in URLs anyway
(consumers/middleware.py), but a client that sends one must not leak it here.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

SECRET_PARAMETERS = ("key", "screen_key", "token", "access_token", "jwt")
_NAMES = "|".join(SECRET_PARAMETERS)
_SECRET = re.compile(rf"([?&](?:{_NAMES})=)[^&#\s\"]*", re.IGNORECASE)


def redact(url: str) -> str:
    """The URL with the value of every credential parameter replaced by `[redacted]`."""
    return _SECRET.sub(r"\1[redacted]", url)


ActionLogger = Callable[[str, str, dict[str, Any]], None]


def redacting(action_logger: ActionLogger) -> ActionLogger:
    """Wrap a daphne action logger (its AccessLogGenerator) so that paths are redacted."""

    def log(protocol: str, action: str, details: dict[str, Any]) -> None:
        if isinstance(details.get("path"), str):
            details = {**details, "path": redact(details["path"])}
        action_logger(protocol, action, details)

    return log


def redacting_server(server_class: type) -> type:
    """daphne's Server whose access log (action_logger) never shows a credential."""

    class RedactingServer(server_class):
        def __init__(self, *args, action_logger: ActionLogger | None = None, **kwargs):
            super().__init__(*args, action_logger=action_logger and redacting(action_logger),
                             **kwargs)

    return RedactingServer


class RedactSecretsFilter(logging.Filter):
    """Our own log lines too (settings.LOGGING): a logged URL never shows a credential."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True
