"""No credentials from URLs in the access log or any other log line.

A venue screen opens ``/screen/events/<id>/?key=<screen key>`` and its WebSocket
``/ws/events/<id>/?key=...``: a key written to the access log is a key anyone
who reads the logs can use until it is revoked. The access log (core/requestlog.py)
writes each request's path with its query string through `redact`, and every log
line passes `RedactSecretsFilter` (settings.LOGGING). daphne's own access log is off
(`without_access_log`). (A reverse proxy in front keeps its own access log: configure
it the same way, docs/security.md.) Tokens are refused in URLs anyway
(consumers/middleware.py), but a client that sends one must not leak it here.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

SECRET_PARAMETERS = ("key", "screen_key", "token", "access_token", "jwt")
_NAMES = "|".join(SECRET_PARAMETERS)
_SECRET = re.compile(rf"([?&](?:{_NAMES})=)[^&#\s\"]*", re.IGNORECASE)


def redact(url: str) -> str:
    """The URL with the value of every credential parameter replaced by `[redacted]`."""
    return _SECRET.sub(r"\1[redacted]", url)


def without_access_log(server_class: type) -> type:
    """daphne's Server with its own access log off (`manage.py serve` installs it).

    core/requestlog.py writes the access log instead, through logging: one line per
    HTTP request and per WebSocket, with the request id, redacted by the filter below.
    daphne's lines (plain text on stdout, no request id) would repeat each of them.
    """

    class QuietServer(server_class):
        def __init__(self, *args, action_logger: Callable | None = None, **kwargs):
            super().__init__(*args, action_logger=None, **kwargs)

    return QuietServer


class RedactSecretsFilter(logging.Filter):
    """Our own log lines too (settings.LOGGING): a logged URL never shows a credential."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True
