"""A screen key (or a token) in a URL never reaches a log line (core/accesslog.py)."""

from __future__ import annotations

import io
import logging

from daphne.access import AccessLogGenerator

from core.accesslog import RedactSecretsFilter, redact, redacting, redacting_server

KEY = "Zm9vYmFyYmF6cXV4LXNjcmVlbi1rZXktMzItYnl0ZXM"


def test_redact_replaces_every_credential_parameter_and_keeps_the_rest():
    assert redact(f"/screen/events/12/?key={KEY}") == "/screen/events/12/?key=[redacted]"
    assert redact(f"/ws/events/12/?since=41&key={KEY}&x=1") == (
        "/ws/events/12/?since=41&key=[redacted]&x=1")
    assert redact(f"/screen/events/12/qr.svg?KEY={KEY}&v=ABC123") == (
        "/screen/events/12/qr.svg?KEY=[redacted]&v=ABC123")
    assert redact("/ws/events/1/?token=a.b.c&jwt=d&access_token=e") == (
        "/ws/events/1/?token=[redacted]&jwt=[redacted]&access_token=[redacted]")
    assert redact("/api/events/?monkey=1&keys=2") == "/api/events/?monkey=1&keys=2"


def test_daphnes_access_log_shows_no_screen_key():
    stream = io.StringIO()
    log = redacting(AccessLogGenerator(stream))
    log("http", "complete", {"path": f"/screen/events/12/?key={KEY}", "status": 200,
                             "method": "GET", "client": "203.0.113.7:5000",
                             "time_taken": 0.01, "size": 100})
    log("websocket", "connected", {"path": f"/ws/events/12/?key={KEY}",
                                   "client": "203.0.113.7:5001"})
    written = stream.getvalue()
    assert KEY not in written and written.count("key=[redacted]") == 2


def test_the_server_class_serve_installs_wraps_daphnes_action_logger():
    seen = []

    class Server:
        def __init__(self, application, action_logger=None):
            self.action_logger = action_logger

    server = redacting_server(Server)(object(), action_logger=lambda *args: seen.append(args))
    server.action_logger("websocket", "connecting", {"path": f"/ws/events/1/?key={KEY}"})
    assert seen == [("websocket", "connecting", {"path": "/ws/events/1/?key=[redacted]"})]
    assert redacting_server(Server)(object()).action_logger is None  # no access log


def test_our_log_lines_are_redacted_too(caplog):
    logger = logging.getLogger("tests.accesslog")
    logger.addFilter(RedactSecretsFilter())
    try:
        with caplog.at_level(logging.INFO, logger="tests.accesslog"):
            logger.info("opened %s", f"/screen/events/1/?key={KEY}")
    finally:
        logger.filters.clear()
    assert KEY not in caplog.text and "key=[redacted]" in caplog.text
