"""Outbound webhooks per event: an outbox written with the change, delivered after commit.

``emit(event_id=..., kind=..., payload=...)`` runs inside the service's
transaction and creates one pending ``WebhookDelivery`` per subscribed
endpoint, so a rolled-back change never produces a delivery. The scheduler's
periodic job ``deliver_due()`` sends due deliveries, logs every attempt and
retries failures with exponential backoff, up to WEBHOOK_MAX_ATTEMPTS.
Several schedulers may run it at once: due rows are claimed with a lease
under ``select_for_update(skip_locked=True)`` before any HTTP call.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from core.models import DeliveryAttempt, WebhookDelivery, WebhookEndpoint
from core.outbound import after_attempt, claim_due, signed_post

LEASE = timedelta(seconds=60)


def active_endpoints_exist(event_id_ref: str = "event_id") -> Exists:
    """An EXISTS for a queryset annotation: does the row's event have an active endpoint?

    Hot paths (a purchase) fold it into a query they run anyway and call `emit`
    only when it is true: no query for the endpoints an event does not have.
    """
    return Exists(WebhookEndpoint.objects.filter(event_id=OuterRef(event_id_ref),
                                                 is_active=True))


def emit(*, event_id: int, kind: str, payload: dict) -> int:
    """Queue `kind` for every active endpoint of the event that wants it. Returns the count."""
    endpoints = [e for e in WebhookEndpoint.objects.filter(event_id=event_id, is_active=True)
                 if e.wants(kind)]
    WebhookDelivery.objects.bulk_create(
        WebhookDelivery(
            endpoint=endpoint,
            kind=kind,
            payload={"kind": kind, "event_id": event_id, "data": payload},
        )
        for endpoint in endpoints
    )
    return len(endpoints)


def _claim(limit: int) -> list[WebhookDelivery]:
    pending = WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PENDING)
    ids = claim_due(pending, limit=limit, lease=LEASE)
    return list(WebhookDelivery.objects.filter(id__in=ids).select_related("endpoint"))


def deliver(delivery: WebhookDelivery) -> bool:
    """One attempt for one delivery; records it and schedules the retry. True if delivered."""
    endpoint = delivery.endpoint
    result = signed_post(
        url=endpoint.url,
        secret=endpoint.secret,
        payload={**delivery.payload, "delivery_id": delivery.id},
        delivery_id=f"wh-{delivery.id}",
        timeout=settings.WEBHOOK_TIMEOUT_SECONDS,
    )
    now = timezone.now()
    with transaction.atomic():
        DeliveryAttempt.objects.create(
            delivery=delivery, target="webhook", url=endpoint.url, at=now,
            status_code=result.status_code, error=result.error,
            duration_ms=result.duration_ms, succeeded=result.ok,
        )
        changed = after_attempt(delivery, ok=result.ok, now=now,
                                max_attempts=settings.WEBHOOK_MAX_ATTEMPTS,
                                backoff_base=settings.WEBHOOK_BACKOFF_SECONDS)
        if result.ok:
            delivery.delivered_at = now
        delivery.save(update_fields=[*changed, "delivered_at"])
    return result.ok


def deliver_due(*, limit: int = 50) -> int:
    """Send every due delivery once. Returns how many were delivered."""
    return sum(deliver(delivery) for delivery in _claim(limit))
