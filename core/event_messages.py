"""The event stream's core half: the EVENT dict and the ``event.updated`` message.

The ``event`` stream kind is live's (live/streams.py: its snapshot carries the
event's draws) and lists ``event_updated_data`` among its message builders. The
builders live here because core itself publishes ``event.updated``
(core/services/events.py) and core does not import live.
"""

from __future__ import annotations

from datetime import datetime
from typing import TypedDict

from core.models import Event


class EventState(TypedDict):
    """EVENT: the event as the event stream's snapshot and ``event.updated`` carry it."""

    id: int
    title: str
    description: str
    starts_at: datetime
    ends_at: datetime | None
    status: str
    venue_id: int | None
    time_zone: str
    checkin_code_required: bool


class EventUpdated(TypedDict):
    event: EventState


def event_stream(event_id: int) -> str:
    return f"event:{event_id}"


def event_state(event: Event) -> EventState:
    return {
        "id": event.pk, "title": event.title, "description": event.description,
        "starts_at": event.starts_at, "ends_at": event.ends_at, "status": event.status,
        "venue_id": event.venue_id, "time_zone": event.time_zone,
        "checkin_code_required": event.checkin_code_required,
    }


def event_updated_data(event: Event) -> EventUpdated:
    """``event.updated``: staff changed the event; clients replace it."""
    return {"event": event_state(event)}
