"""Event catalog writes (staff): create and edit events.

Each change is published as ``event.updated`` on ``event:<id>`` after commit
(data: ``{"event": EVENT}``, built by core/event_messages.py; the same dict the event
stream's snapshot carries). A status change also tells the WebSocket consumers of
every worker to check who may still watch the event (core.streams.control).
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from core.event_messages import event_stream, event_updated_data
from core.models import Event
from core.streams import ACCESS_CHANGED, control_on_commit, publish_on_commit

EDITABLE_FIELDS = (
    "title", "description", "starts_at", "ends_at", "status", "venue", "time_zone",
    "language", "checkin_code_required", "checkin_opens_before",
)


def checkin_code_required_default(venue) -> bool:
    """An event at a venue asks for the presence code shown on its screens unless the
    organiser says otherwise: a check-in then proves the attendee is there."""
    return venue is not None


@transaction.atomic
def event_create(**fields: Any) -> Event:
    """Create an event from validated fields (see EDITABLE_FIELDS).

    checkin_code_required None or absent: on for an event at a venue
    (checkin_code_required_default)."""
    if fields.get("checkin_code_required") is None:
        fields["checkin_code_required"] = checkin_code_required_default(fields.get("venue"))
    event = Event(**{k: v for k, v in fields.items() if k in EDITABLE_FIELDS})
    event.full_clean()
    event.save()
    return event


@transaction.atomic
def event_update(*, event: Event, fields: dict[str, Any]) -> Event:
    """Apply validated changes under a row lock; publishes event.updated."""
    locked = Event.objects.select_for_update().get(pk=event.pk)
    changed = [k for k, v in fields.items() if k in EDITABLE_FIELDS and getattr(locked, k) != v]
    for name in changed:
        setattr(locked, name, fields[name])
    if changed:
        locked.full_clean()
        locked.save()
        publish_on_commit(event_stream(locked.pk), "event.updated", event_updated_data(locked))
        if "status" in changed:
            # Back to draft, or cancelled: sockets of viewers who may no longer see
            # the event are closed (consumers/streams.py, recheck_access).
            control_on_commit(ACCESS_CHANGED, event_id=locked.pk)
    return locked
