"""Small factories for tests and benchmarks (no pytest import here: bench/ imports this
module with the repository root on sys.path)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from core.models import Event
from live.models import Draw
from live.services.draws import draw_create

_DEFAULT_PRIZES = [{"name": "Bicycle", "quantity": 1, "rank": 1}]


def make_event(**fields: Any) -> Event:
    fields.setdefault("title", "Summer fair")
    fields.setdefault("starts_at", timezone.now() + timedelta(days=1))
    fields.setdefault("status", Event.Status.PUBLISHED)
    # Check-in open from now on (the event starts in a day): tests of the window set it.
    fields.setdefault("checkin_opens_before", 2 * 24 * 60)
    return Event.objects.create(**fields)


def make_draw(event: Event | None = None, *, prizes: list[dict] | None = None,
              **fields: Any) -> Draw:
    """A draw through the service (so it has a committed seed), default a 1-prize raffle."""
    fields.setdefault("title", "Grand raffle")
    if fields.get("kind") == Draw.Kind.LOTTERY:
        fields.setdefault("numbers_count", 3)
        fields.setdefault("numbers_max", 10)
    due = fields.get("scheduled_at")
    if due is not None and due <= timezone.now():
        # A draw already due: the service refuses a time in the past (as the API and the
        # admin must), so the draw is made for later and then moved back.
        fields["scheduled_at"] = timezone.now() + timedelta(hours=1)
    draw = draw_create(event=event or make_event(), prizes=prizes or _DEFAULT_PRIZES,
                       actor=None, source="test", **fields)
    if fields.get("scheduled_at") != due:
        Draw.objects.filter(pk=draw.pk).update(scheduled_at=due)
        draw.scheduled_at = due
    return draw


def draw_url(draw: Draw, action: str = "") -> str:
    base = f"/api/events/{draw.event_id}/draws/{draw.pk}/"
    return base + (f"{action}/" if action else "")


def make_entrants(draw: Draw, n: int, *, prefix: str = "entrant") -> list:
    """n users (bulk, no password hashing) each with one entry in `draw`, entered through
    live's bulk service (the one seed_demo uses)."""
    from core.models import User
    from live.services.draws import draw_enter_many

    tag = f"{prefix}{draw.pk}"
    users = User.objects.bulk_create(
        [User(email=f"{tag}-{i}@example.com", password="!") for i in range(n)])
    if users and users[0].pk is None:
        users = list(User.objects.filter(email__startswith=f"{tag}-").order_by("id"))
    draw_enter_many(draw=draw, user_ids=[u.pk for u in users])
    return users
