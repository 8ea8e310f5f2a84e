"""Staff writes on webhooks: an event's endpoints, and retrying failed deliveries.

The delivery machinery (the outbox, the periodic sender) is core/webhooks.py; these are
the writes staff make through the API and the admin, each audited.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import transaction

from core import audit
from core.models import Event, User, WebhookDelivery, WebhookEndpoint
from core.outbound import retry_now


@transaction.atomic
def webhook_endpoint_create(*, event: Event, url: str, actor: User | None,
                            kinds: list[str] | None = None, is_active: bool = True
                            ) -> WebhookEndpoint:
    """Add an endpoint (a fresh signing secret) for the event's webhooks. `url` is
    already checked by the caller (core.outbound.check_destination). Writes the
    webhook_endpoint.created audit entry (never the secret)."""
    endpoint = WebhookEndpoint.objects.create(event=event, url=url, kinds=kinds or [],
                                              is_active=is_active, created_by=actor)
    audit.record(action="webhook_endpoint.created", obj=endpoint, actor=actor,
                 data={"event_id": event.pk, "url": url, "kinds": endpoint.kinds,
                       "is_active": is_active})
    return endpoint


@transaction.atomic
def webhook_endpoint_update(*, endpoint: WebhookEndpoint, actor: User | None,
                            **fields: Any) -> WebhookEndpoint:
    """Change url, kinds, is_active or event. Writes the webhook_endpoint.updated audit entry."""
    for name, value in fields.items():
        setattr(endpoint, name, value)
    endpoint.save(update_fields=list(fields) or None)
    audit.record(action="webhook_endpoint.updated", obj=endpoint, actor=actor,
                 data={"event_id": endpoint.event_id, "fields": {
                     name: getattr(endpoint, WebhookEndpoint._meta.get_field(name).attname)
                     for name in fields}})
    return endpoint


@transaction.atomic
def webhook_endpoint_delete(*, endpoint: WebhookEndpoint, actor: User | None) -> None:
    """Remove the endpoint and its delivery log. Writes the webhook_endpoint.deleted
    audit entry."""
    audit.record(action="webhook_endpoint.deleted", obj=endpoint, actor=actor,
                 data={"event_id": endpoint.event_id, "url": endpoint.url})
    endpoint.delete()


@transaction.atomic
def webhook_delivery_retry(*, delivery_ids: Iterable[int], actor: User | None) -> int:
    """Make the given deliveries that have not succeeded due now (status pending); the
    scheduler's next deliver_due sends them. Returns how many were queued; writes a
    webhook_delivery.retried audit entry for each."""
    return retry_now(WebhookDelivery, ids=delivery_ids, action="webhook_delivery.retried",
                     actor=actor)
