"""Event catalog reads: who may see which events."""

from __future__ import annotations

from datetime import date, datetime, time

from django.db.models import QuerySet
from django.utils import timezone

from core.errors import EventNotFound
from core.models import Event

PUBLIC_STATUSES = (Event.Status.PUBLISHED, Event.Status.LIVE, Event.Status.ENDED)


def visible_events(user) -> QuerySet[Event]:
    """Staff see every event; everyone else published, live and ended ones."""
    events = Event.objects.select_related("venue")
    if user is not None and getattr(user, "is_staff", False):
        return events
    return events.filter(status__in=PUBLIC_STATUSES)


def event_list(
    *, user, upcoming: bool = False, live: bool = False,
    from_date: date | None = None, to_date: date | None = None, status: str | None = None,
) -> QuerySet[Event]:
    events = visible_events(user)
    if upcoming:
        events = events.filter(starts_at__gte=timezone.now())
    if live:
        events = events.filter(status=Event.Status.LIVE)
    if status:
        events = events.filter(status=status)
    tz = timezone.get_current_timezone()
    if from_date:
        events = events.filter(starts_at__gte=datetime.combine(from_date, time.min, tzinfo=tz))
    if to_date:
        events = events.filter(starts_at__lte=datetime.combine(to_date, time.max, tzinfo=tz))
    return events.order_by("starts_at", "id")


def event_get(*, event_id: int, user) -> Event:
    try:
        return visible_events(user).get(pk=event_id)
    except Event.DoesNotExist:
        raise EventNotFound() from None
