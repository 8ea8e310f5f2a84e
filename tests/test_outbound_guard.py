"""Staff-entered delivery URLs cannot reach private addresses (SSRF guard, core/outbound.py).

The suite allows loopback for its own receivers (tests/conftest.py); each test
here sets the production default (no allowed networks) or its own list.
"""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from core import webhooks
from core.errors import UnsafeDestination
from core.models import DeliveryAttempt, Event, WebhookDelivery, WebhookEndpoint
from core.outbound import check_destination, signed_post
from live.models import OperatorEndpoint
from tests.receivers import http_receiver

PRIVATE_URLS = [
    "http://127.0.0.1:8000/metrics",
    "http://localhost:6379/",
    "http://[::1]/",
    "http://10.0.0.5/hook",
    "http://192.168.1.1/",
    "http://172.16.0.1/",
    "http://169.254.169.254/latest/meta-data/",  # cloud metadata
    "http://[::ffff:127.0.0.1]/",  # IPv4-mapped loopback
    "http://0.0.0.0/",
    "http://100.64.0.1/",  # carrier-grade NAT
    # IPv6 forms that carry a private IPv4 address, and site-local IPv6.
    "http://[64:ff9b::a9fe:a9fe]/",  # NAT64 of the metadata address
    "http://[2002:a9fe:a9fe::1]/",  # 6to4
    "http://[::a9fe:a9fe]/",  # IPv4-compatible
    "http://[::ffff:0:7f00:1]/",  # IPv4-translated loopback
    "http://[fec0::1]/",
]


@pytest.fixture
def production_default(settings):
    settings.OUTBOUND_ALLOWED_NETWORKS = []


@pytest.fixture
def event(db):
    return Event.objects.create(title="Final", starts_at=timezone.now() + timedelta(days=1))


@pytest.mark.parametrize("url", PRIVATE_URLS)
def test_private_and_reserved_addresses_are_refused(production_default, url):
    with pytest.raises(UnsafeDestination, match="public addresses only"):
        check_destination(url, resolve=False)


@pytest.mark.parametrize("url", ["ftp://example.com/", "file:///etc/passwd", "http:///nohost"])
def test_only_http_urls_with_a_host(production_default, url):
    with pytest.raises(UnsafeDestination, match="http"):
        check_destination(url, resolve=False)


def test_public_literal_address_passes(production_default):
    check_destination("https://93.184.215.14/hook", resolve=False)


def test_unresolvable_name_passes_on_save_but_not_on_send(production_default):
    url = "https://receiver.invalid/hook"  # .invalid never resolves (RFC 2606)
    check_destination(url, resolve=False)
    with pytest.raises(UnsafeDestination, match="does not resolve"):
        check_destination(url)


def test_an_allowed_network_lets_an_operator_inside_it_through(settings):
    settings.OUTBOUND_ALLOWED_NETWORKS = ["10.20.0.0/16"]
    check_destination("http://10.20.3.4/batches", resolve=False)
    with pytest.raises(UnsafeDestination):
        check_destination("http://10.21.0.1/", resolve=False)


def test_api_refuses_a_webhook_to_a_private_address(production_default, staff_api, event):
    response = staff_api.post(
        f"/api/events/{event.pk}/webhooks/",
        {"url": "http://169.254.169.254/latest/meta-data/"}, format="json",
    )
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert "public addresses only" in body["fields"]["url"][0]
    assert not WebhookEndpoint.objects.exists()


def test_admin_validation_refuses_a_private_operator_url(production_default, event):
    endpoint = OperatorEndpoint(event=event, url="http://127.0.0.1:5432/")
    with pytest.raises(ValidationError, match="public addresses only"):
        endpoint.full_clean()
    webhook = WebhookEndpoint(event=event, url="http://10.0.0.1/")
    with pytest.raises(ValidationError, match="public addresses only"):
        webhook.full_clean()


def test_a_delivery_to_a_private_address_is_refused_at_send_time(settings, event):
    """A URL saved while allowed (or rebound in DNS since) is checked again before the POST."""
    with http_receiver() as receiver:
        WebhookEndpoint.objects.create(event=event, url=receiver.url)
        webhooks.emit(event_id=event.id, kind="draw.performed", payload={"draw": 1})
        settings.OUTBOUND_ALLOWED_NETWORKS = []
        webhooks.deliver_due()
    assert receiver.requests == []
    attempt = DeliveryAttempt.objects.get()
    assert not attempt.succeeded and attempt.status_code is None
    assert attempt.error.startswith("refused:")
    assert WebhookDelivery.objects.get().status == "pending"  # retried later, with backoff


def test_signed_post_reaches_an_allowed_receiver(event):
    with http_receiver() as receiver:
        result = signed_post(url=receiver.url, secret="s", payload={"a": 1}, delivery_id="d1")
    assert result.ok and len(receiver.requests) == 1
