"""SMS backends: console, memory and http (against a real local HTTP server)."""

import logging

import pytest
from django.core.exceptions import ImproperlyConfigured

from core import sms
from core.errors import SmsUnavailable
from tests.servers import free_port
from tests.sms_server import sms_provider


@pytest.fixture
def http_backend(settings):
    settings.SMS_BACKEND = "http"
    settings.SMS_HTTP_TOKEN = "provider-token"
    settings.SMS_HTTP_TIMEOUT = 2
    return settings


def test_memory_backend_keeps_an_outbox(sms_outbox):
    sms.send_sms(to="+4915123456789", text="hello")
    assert sms_outbox == [sms.SmsMessage(to="+4915123456789", text="hello")]


def test_console_backend_logs_the_message(settings, caplog):
    settings.SMS_BACKEND = "console"
    with caplog.at_level(logging.INFO, logger="core.sms"):
        sms.send_sms(to="+4915123456789", text="hello there")
    assert "+4915123456789" in caplog.text and "hello there" in caplog.text


def test_unknown_backend_is_a_configuration_error(settings):
    settings.SMS_BACKEND = "carrier-pigeon"
    with pytest.raises(ImproperlyConfigured, match="carrier-pigeon"):
        sms.send_sms(to="+4915123456789", text="hello")


def test_http_backend_posts_json_with_bearer_token(http_backend):
    with sms_provider() as provider:
        http_backend.SMS_HTTP_URL = provider.url
        sms.send_sms(to="+4915123456789", text="Your code: 123456")
    [request] = provider.received
    assert request["body"] == {"to": "+4915123456789", "text": "Your code: 123456"}
    assert request["headers"]["Authorization"] == "Bearer provider-token"
    assert request["headers"]["Content-Type"] == "application/json"


@pytest.mark.parametrize("status", [400, 401, 500, 503])
def test_http_backend_error_answer_is_sms_unavailable(http_backend, status):
    with sms_provider(status=status) as provider:
        http_backend.SMS_HTTP_URL = provider.url
        with pytest.raises(SmsUnavailable):
            sms.send_sms(to="+4915123456789", text="hello")
    assert len(provider.received) == 1


def test_http_backend_unreachable_provider_is_sms_unavailable(http_backend):
    http_backend.SMS_HTTP_URL = f"http://127.0.0.1:{free_port()}/messages"
    with pytest.raises(SmsUnavailable) as caught:
        sms.send_sms(to="+4915123456789", text="hello")
    assert caught.value.status_code == 503 and caught.value.code == "sms_unavailable"


def test_http_backend_times_out_as_sms_unavailable(http_backend):
    http_backend.SMS_HTTP_TIMEOUT = 0.2
    with sms_provider(delay=1.0) as provider:
        http_backend.SMS_HTTP_URL = provider.url
        with pytest.raises(SmsUnavailable):
            sms.send_sms(to="+4915123456789", text="hello")


@pytest.mark.parametrize("url", ["", "ftp://example.com/sms", "file:///etc/passwd"])
def test_http_backend_without_an_http_url_is_sms_unavailable(http_backend, url):
    http_backend.SMS_HTTP_URL = url
    with pytest.raises(SmsUnavailable):
        sms.send_sms(to="+4915123456789", text="hello")
