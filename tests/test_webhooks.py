"""Outbound webhooks: written with the change, signed, retried with backoff, attempts logged."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from core import webhooks
from core.models import AuditEntry, DeliveryAttempt, Event, WebhookDelivery, WebhookEndpoint
from core.outbound import SIGNATURE_HEADER, backoff_seconds, verify_signature
from tests.receivers import http_receiver

pytestmark = pytest.mark.django_db


@pytest.fixture
def event():
    return Event.objects.create(title="Final", starts_at=timezone.now() + timedelta(days=1))


def _endpoint(event, url, kinds=()):
    return WebhookEndpoint.objects.create(event=event, url=url, kinds=list(kinds))


def test_delivery_is_signed_and_logged(event):
    with http_receiver() as receiver:
        endpoint = _endpoint(event, receiver.url)
        with transaction.atomic():
            assert webhooks.emit(event_id=event.id, kind="draw.performed", payload={"draw": 3}) == 1
        assert webhooks.deliver_due() == 1
    (request,) = receiver.requests
    assert verify_signature(endpoint.secret, request.body, request.headers[SIGNATURE_HEADER])
    assert not verify_signature("another-secret", request.body, request.headers[SIGNATURE_HEADER])
    body = request.json()
    assert body["kind"] == "draw.performed" and body["data"] == {"draw": 3}
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "succeeded" and delivery.attempts == 1
    attempt = DeliveryAttempt.objects.get()
    assert attempt.succeeded and attempt.status_code == 200


def test_only_subscribed_active_endpoints_get_a_delivery(event):
    _endpoint(event, "http://127.0.0.1:9/a", kinds=["ticket.sold"])
    _endpoint(event, "http://127.0.0.1:9/b")  # all kinds
    WebhookEndpoint.objects.create(event=event, url="http://127.0.0.1:9/c", is_active=False)
    assert webhooks.emit(event_id=event.id, kind="draw.winner", payload={}) == 1
    assert webhooks.emit(event_id=event.id, kind="ticket.sold", payload={}) == 2


def test_a_rolled_back_change_sends_nothing(event):
    _endpoint(event, "http://127.0.0.1:9/hook")

    class Boom(Exception):
        pass

    with pytest.raises(Boom), transaction.atomic():
        webhooks.emit(event_id=event.id, kind="ticket.sold", payload={})
        raise Boom
    assert not WebhookDelivery.objects.exists()


def test_failures_are_retried_with_backoff_until_they_succeed(event, settings):
    settings.WEBHOOK_BACKOFF_SECONDS = 5
    with http_receiver(statuses=[500, 200]) as receiver:
        _endpoint(event, receiver.url)
        webhooks.emit(event_id=event.id, kind="prize.claimed", payload={"prize": 1})
        before = timezone.now()
        assert webhooks.deliver_due() == 0
        delivery = WebhookDelivery.objects.get()
        assert delivery.status == "pending" and delivery.attempts == 1
        assert delivery.next_attempt_at >= before + timedelta(seconds=5)
        assert webhooks.deliver_due() == 0  # not due yet: nothing is sent
        assert len(receiver.requests) == 1
        WebhookDelivery.objects.update(next_attempt_at=timezone.now())
        assert webhooks.deliver_due() == 1
    assert [a.status_code for a in DeliveryAttempt.objects.order_by("at", "id")] == [500, 200]
    # Both attempts carry the same delivery id, so the receiver can drop duplicates.
    assert receiver.requests[0].headers["Tombola-Delivery"] == receiver.requests[1].headers[
        "Tombola-Delivery"
    ]


def test_gives_up_after_the_maximum_attempts(event, settings):
    settings.WEBHOOK_MAX_ATTEMPTS = 2
    _endpoint(event, "http://127.0.0.1:9/unreachable")  # port 9: connection refused
    webhooks.emit(event_id=event.id, kind="ticket.refunded", payload={})
    for _ in range(2):
        WebhookDelivery.objects.update(next_attempt_at=timezone.now())
        webhooks.deliver_due()
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "failed" and delivery.attempts == 2
    assert all(a.status_code is None and a.error for a in DeliveryAttempt.objects.all())


def test_backoff_doubles_and_is_capped():
    assert [backoff_seconds(n) for n in (1, 2, 3)] == [5, 10, 20]
    assert backoff_seconds(30) == 3600


def test_staff_register_and_list_endpoints(staff_api, event):
    response = staff_api.post(
        f"/api/events/{event.id}/webhooks/",
        {"url": "https://organiser.example/hook", "kinds": ["draw.winner", "draw.winner"]},
        format="json",
    )
    assert response.status_code == 201
    body = response.json()
    assert body["kinds"] == ["draw.winner"] and len(body["secret"]) == 64
    listing = staff_api.get(f"/api/events/{event.id}/webhooks").json()
    assert listing["count"] == 1 and listing["results"][0]["url"] == "https://organiser.example/hook"


def test_endpoint_writes_go_through_the_service_and_are_audited(staff_api, staff, event):
    url = f"/api/events/{event.id}/webhooks/"
    created = staff_api.post(url, {"url": "https://organiser.example/hook"}, format="json")
    endpoint = WebhookEndpoint.objects.get(pk=created.json()["id"])
    assert endpoint.created_by == staff
    patched = staff_api.patch(f"{url}{endpoint.pk}/", {"is_active": False}, format="json")
    assert patched.status_code == 200 and patched.json()["is_active"] is False
    assert staff_api.delete(f"{url}{endpoint.pk}/").status_code == 204
    assert not WebhookEndpoint.objects.exists()
    entries = AuditEntry.objects.filter(object_type="core.webhookendpoint").order_by("id")
    assert [(e.action, e.actor_id) for e in entries] == [
        ("webhook_endpoint.created", staff.pk), ("webhook_endpoint.updated", staff.pk),
        ("webhook_endpoint.deleted", staff.pk)]
    assert "secret" not in str(entries[0].data)
    assert entries[1].data["fields"] == {"is_active": False}


def test_admin_retry_makes_failed_deliveries_due_and_is_audited(client, staff, event):
    staff.is_superuser = True
    staff.save()
    client.force_login(staff)
    endpoint = _endpoint(event, "https://organiser.example/hook")
    failed = WebhookDelivery.objects.create(endpoint=endpoint, kind="draw.winner", payload={},
                                            status=WebhookDelivery.Status.FAILED, attempts=8)
    done = WebhookDelivery.objects.create(endpoint=endpoint, kind="draw.winner", payload={},
                                          status=WebhookDelivery.Status.SUCCEEDED)
    response = client.post("/admin/core/webhookdelivery/", {
        "action": "retry_now", "_selected_action": [failed.pk, done.pk]}, follow=True)
    assert "1 deliveries queued for another attempt." in response.content.decode()
    failed.refresh_from_db()
    assert failed.status == "pending" and failed.next_attempt_at <= timezone.now()
    assert WebhookDelivery.objects.get(pk=done.pk).status == "succeeded"
    retried = AuditEntry.objects.get(action="webhook_delivery.retried")
    assert retried.actor_id == staff.pk and retried.object_id == str(failed.pk)


def test_admin_adds_and_edits_endpoints_through_the_service(client, staff, event):
    staff.is_superuser = True
    staff.save()
    client.force_login(staff)
    response = client.post("/admin/core/webhookendpoint/add/", {
        "event": event.pk, "url": "https://organiser.example/hook", "kinds": '["draw.winner"]',
        "is_active": "on"})
    assert response.status_code == 302, response.content.decode()[:2000]
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.created_by == staff and len(endpoint.secret) == 64
    response = client.post(f"/admin/core/webhookendpoint/{endpoint.pk}/change/", {
        "event": event.pk, "url": "https://organiser.example/other", "kinds": '["draw.winner"]',
        "is_active": "on"})
    assert response.status_code == 302
    assert WebhookEndpoint.objects.get().url == "https://organiser.example/other"
    assert list(AuditEntry.objects.filter(object_type="core.webhookendpoint")
                .order_by("id").values_list("action", "actor_id")) == [
        ("webhook_endpoint.created", staff.pk), ("webhook_endpoint.updated", staff.pk)]


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"url": "ftp://organiser.example/hook"}, "url"),
        ({"url": "not a url"}, "url"),
        ({"url": "https://organiser.example/hook", "kinds": ["draw.exploded"]}, "kinds"),
        ({"kinds": ["draw.winner"]}, "url"),
    ],
)
def test_bad_endpoint_input_is_refused_with_field_errors(staff_api, event, payload, field):
    response = staff_api.post(f"/api/events/{event.id}/webhooks/", payload, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid" and field in body["fields"]
    assert not WebhookEndpoint.objects.exists()


def test_webhooks_are_staff_only(api, user_api, event):
    url = f"/api/events/{event.id}/webhooks/"
    assert api.get(url).status_code == 401
    assert user_api.get(url).status_code == 403
    assert user_api.post(url, {"url": "https://x.example/h"}, format="json").status_code == 403


def test_unknown_event_answers_404(staff_api):
    response = staff_api.get("/api/events/999999/webhooks/")
    assert response.status_code == 404 and response.json()["code"] == "not_found"


def test_delivery_log_is_readable_by_staff(staff_api, event):
    with http_receiver() as receiver:
        endpoint = _endpoint(event, receiver.url)
        webhooks.emit(event_id=event.id, kind="ticket.sold", payload={"ticket": 1})
        webhooks.deliver_due()
    log = staff_api.get(f"/api/events/{event.id}/webhooks/{endpoint.id}/deliveries/").json()
    assert log["count"] == 1
    assert log["results"][0]["attempt_log"][0]["status_code"] == 200
