"""Forwarding participants to an event's operator: signed, retried, every attempt logged.

``entries_forward`` writes a pending ForwardingBatch (the outbox); the scheduler's
periodic job ``forward_due`` claims due batches with a lease (core.outbound.claim_due:
SKIP LOCKED, so several schedulers never send one batch at once), POSTs them with
core.outbound.signed_post and logs each attempt as a DeliveryAttempt with
``target="operator:<batch id>"``. Entries get ``forwarded_at`` only when the operator
answered 2xx, in the same transaction as the batch becoming ``succeeded``.

Body sent: {"batch_id", "event_id", "participants": [{entry_id, draw_id, position,
user_id, first_name, last_name, email, phone, phone_verified, entered_at}]}.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core import audit
from core.models import DeliveryAttempt, Event, User
from core.outbound import after_attempt, claim_due, retry_now, signed_post
from live.errors import NoOperatorEndpoint, NothingToForward
from live.models import Entry, ForwardingBatch, OperatorEndpoint

LEASE = timedelta(seconds=120)


@transaction.atomic
def entries_forward(*, event: Event, entry_ids: Iterable[int], actor: User | None
                    ) -> ForwardingBatch:
    """Queue the event's entries `entry_ids` for the operator as one batch.

    Raises NoOperatorEndpoint (409) without an active endpoint, NothingToForward
    (400) when an id is not an entry of this event or none is given. Writes the
    participants.forwarding audit entry. Sending happens in ``forward_due``.
    """
    endpoint = OperatorEndpoint.objects.filter(event=event, is_active=True).first()
    if endpoint is None:
        raise NoOperatorEndpoint()
    wanted = set(entry_ids)
    found = set(Entry.objects.filter(pk__in=wanted, draw__event=event)
                .values_list("pk", flat=True))
    if not wanted or found != wanted:
        raise NothingToForward(None if not wanted else
                               f"Not entries of this event: {sorted(wanted - found)[:20]}.")
    batch = ForwardingBatch.objects.create(endpoint=endpoint, created_by=actor)
    batch.entries.add(*sorted(found))
    audit.record(action="participants.forwarding", obj=batch, actor=actor,
                 data={"event_id": event.pk, "entries": len(found)})
    return batch


@transaction.atomic
def forwarding_batch_retry(*, batch_ids: Iterable[int], actor: User | None) -> int:
    """Make the given batches that have not succeeded due now (status pending); the
    scheduler's next forward_due sends them. Returns how many were queued; writes a
    participants.forwarding_retried audit entry for each."""
    return retry_now(ForwardingBatch, ids=batch_ids,
                     action="participants.forwarding_retried", actor=actor)


def batch_payload(batch: ForwardingBatch) -> dict:
    rows = (batch.entries.order_by("id")
            .values_list("id", "draw_id", "position", "user_id", "user__first_name",
                         "user__last_name", "user__email", "user__phone",
                         "user__phone_verified_at", "created_at"))
    return {"batch_id": batch.pk, "event_id": batch.endpoint.event_id, "participants": [
        {"entry_id": entry_id, "draw_id": draw_id, "position": position, "user_id": user_id,
         "first_name": first, "last_name": last, "email": email, "phone": phone,
         "phone_verified": verified is not None, "entered_at": entered_at}
        for entry_id, draw_id, position, user_id, first, last, email, phone, verified, entered_at
        in rows.iterator(chunk_size=2000)]}


def forward(batch: ForwardingBatch) -> bool:
    """One attempt for one batch; logs it and schedules the retry. True if the operator took it."""
    endpoint = batch.endpoint
    result = signed_post(url=endpoint.url, secret=endpoint.secret, payload=batch_payload(batch),
                         delivery_id=f"fw-{batch.pk}", timeout=settings.OPERATOR_TIMEOUT_SECONDS)
    now = timezone.now()
    with transaction.atomic():
        DeliveryAttempt.objects.create(
            target=f"operator:{batch.pk}", url=endpoint.url, at=now,
            status_code=result.status_code, error=result.error,
            duration_ms=result.duration_ms, succeeded=result.ok)
        changed = after_attempt(batch, ok=result.ok, now=now,
                                max_attempts=settings.OPERATOR_MAX_ATTEMPTS,
                                backoff_base=settings.OPERATOR_BACKOFF_SECONDS)
        if result.ok:
            batch.forwarded_at = now
            Entry.objects.filter(forwarding_batches=batch).update(forwarded_at=now)
        batch.save(update_fields=[*changed, "forwarded_at"])
    return result.ok


def forward_due(*, limit: int = 20) -> int:
    """Send every due batch once (the periodic job). Returns how many reached the operator."""
    pending = ForwardingBatch.objects.filter(status=ForwardingBatch.Status.PENDING)
    ids = claim_due(pending, limit=limit, lease=LEASE)
    batches = ForwardingBatch.objects.filter(id__in=ids).select_related("endpoint")
    return sum(forward(batch) for batch in batches)
