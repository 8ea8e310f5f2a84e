"""Helpers for the ticketing tests: a standard layout, an event on sale, API shortcuts.
The seat stream is checked with tests/stream_helpers.verify_action like every kind."""

from __future__ import annotations

from datetime import timedelta

from django.test import TestCase
from django.utils import timezone

from core.models import Event, Venue
from ticketing.models import Seat
from ticketing.services import layout, wallets
from ticketing.streams import seat_map

LAYOUT = [
    # Section A: 3 rows of 10, the front section.
    {"name": "A", "rows": [{"label": "1", "seats": 10}, {"label": "2", "seats": 10},
                           {"label": "3", "seats": 10}]},
    # Section B: 2 rows of 6, cheaper.
    {"name": "B", "rows": [{"label": "1", "seats": 6}, {"label": "2", "seats": 6}]},
]
PRICE_A, PRICE_B = 5_000, 2_000


def make_event(venue, *, starts_in=timedelta(days=10), **sale) -> Event:
    event = Event.objects.create(
        title="Final", starts_at=timezone.now() + starts_in, status="published", venue=venue,
        # Check-in open from now on, as in tests/factories.py.
        checkin_opens_before=int(abs(starts_in).total_seconds() // 60) + 24 * 60,
    )
    sections = {s.name: s.pk for s in venue.sections.all()}
    layout.event_prices_set(event=event, prices={sections["A"]: PRICE_A, sections["B"]: PRICE_B})
    layout.sale_configure(event=event, **{"max_seats_per_order": 6, **sale})
    return event


def one_section_sale(*, rows: int, seats_per_row: int, price: int,
                     name: str = "Arena") -> tuple[Event, list[int]]:
    """A published event on a one-section venue, every seat at `price`, up to 4 per
    order (the process-level race and fault tests); -> (event, sorted seat ids)."""
    venue = Venue.objects.create(name=name)
    layout.venue_layout_set(venue=venue, sections=[
        {"name": "Main", "rows": [{"label": str(r), "seats": seats_per_row}
                                  for r in range(1, rows + 1)]},
    ])
    event = Event.objects.create(title=name, starts_at=timezone.now() + timedelta(days=1),
                                 venue=venue, status="published")
    layout.event_prices_set(event=event, prices={venue.sections.get().pk: price})
    layout.sale_configure(event=event, max_seats_per_order=4)
    return event, sorted(venue.sections.get().rows.values_list("seats__id", flat=True))


def seat(event_or_venue, section: str, row: str, label: str) -> int:
    venue = getattr(event_or_venue, "venue", event_or_venue)
    return Seat.objects.get(
        row__section__venue=venue, row__section__name=section, row__label=row, label=label
    ).pk


def seats(event, section: str, row: str, *labels) -> list[int]:
    return [seat(event, section, row, str(label)) for label in labels]


def fund(user, amount: int = 100_000):
    """Money in the wallet without a payment (tests/test_payments*.py test payments)."""
    return wallets.wallet_credit(user=user, amount=amount, reference="test funds", actor=user)


def hold(client, event, seat_ids):
    return client.post(f"/api/events/{event.pk}/holds/", {"seat_ids": seat_ids}, format="json")


def statuses(event) -> dict[int, str]:
    return {s["id"]: s["status"] for s in seat_map(event)["seats"]}


def committed(fn, *args, **kwargs):
    """Run fn and then its transaction.on_commit callbacks (stream publishing, Redis marks)."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        return fn(*args, **kwargs)


class Clock:
    """A clock the test moves by hand, for the waiting room's line stores (they take the
    caller's clock: ticketing/queue_line.py)."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now
