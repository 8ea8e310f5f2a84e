"""A screen key (or a token) in a URL never reaches a log line (core/accesslog.py)."""

from __future__ import annotations

import logging

import pytest

from core.accesslog import RedactSecretsFilter, redact, without_access_log

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


@pytest.mark.django_db
def test_the_access_log_shows_no_screen_key(caplog, client):
    with caplog.at_level(logging.INFO, logger="tombola.access"):
        client.get(f"/screen/events/999999/?key={KEY}")
    lines = [r for r in caplog.records if r.name == "tombola.access"]
    assert len(lines) == 1
    assert KEY not in lines[0].getMessage() and "key=[redacted]" in lines[0].getMessage()
    assert KEY not in lines[0].path


def test_serve_turns_daphnes_own_access_log_off():
    class Server:
        def __init__(self, application, action_logger=None):
            self.action_logger = action_logger

    server = without_access_log(Server)(object(), action_logger=lambda *args: None)
    assert server.action_logger is None


def test_our_log_lines_are_redacted_too(caplog):
    logger = logging.getLogger("tests.accesslog")
    logger.addFilter(RedactSecretsFilter())
    try:
        with caplog.at_level(logging.INFO, logger="tests.accesslog"):
            logger.info("opened %s", f"/screen/events/1/?key={KEY}")
    finally:
        logger.filters.clear()
    assert KEY not in caplog.text and "key=[redacted]" in caplog.text
