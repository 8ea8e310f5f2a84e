"""Event catalog reads: who may see which events."""

from __future__ import annotations

from django.db.models import QuerySet

from core.errors import EventNotFound
from core.models import Event

PUBLIC_STATUSES = (Event.Status.PUBLISHED, Event.Status.LIVE, Event.Status.ENDED)


def visible_events(user) -> QuerySet[Event]:
    """Staff see every event; everyone else published, live and ended ones."""
    events = Event.objects.select_related("venue")
    if user is not None and getattr(user, "is_staff", False):
        return events
    return events.filter(status__in=PUBLIC_STATUSES)


def event_list(*, user) -> QuerySet[Event]:
    """The events `user` may see, soonest first (core.filters.EventFilters narrows them)."""
    return visible_events(user).order_by("starts_at", "id")


def event_get(*, event_id: int, user) -> Event:
    try:
        return visible_events(user).get(pk=event_id)
    except Event.DoesNotExist:
        raise EventNotFound() from None
