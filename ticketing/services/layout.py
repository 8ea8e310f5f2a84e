"""Venues, seat layouts, per-event prices and sale settings (staff writes)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils.translation import gettext

from core.errors import DomainError
from core.models import Event, Venue
from ticketing.errors import EventHasNoVenue, LayoutRemovesSoldSeat, VenueDoubleBooked
from ticketing.models import EventSale, Row, Seat, Section, SectionPrice, Ticket
from ticketing.services.waiting_list import waiting_list_seats_unblocked
from ticketing.services.waiting_room import waiting_room_resync_sale

PARKED = 1_000_000


@transaction.atomic
def venue_create(*, name: str, address: str = "") -> Venue:
    return Venue.objects.create(name=name, address=address)


def _seat_specs(row_spec: dict[str, Any]) -> list[dict[str, Any]]:
    seats = row_spec["seats"]
    if isinstance(seats, int):
        return [{"label": str(n), "number": n} for n in range(1, seats + 1)]
    return [{**seat, "number": n} for n, seat in enumerate(seats, start=1)]


@transaction.atomic
def venue_layout_set(*, venue: Venue, sections: list[dict[str, Any]]) -> Venue:
    """Replace the venue's layout with `sections` (validated by the API serializer).

    sections: [{name, rows: [{label, seats: N | [{label, x?, y?, blocked?}]}]}];
    list order is position (first row = front). Seats are matched by
    (section name, row label, seat label) so that kept seats keep their ids,
    tickets and history. Locks the venue row (one layout change at a time).
    Raises LayoutRemovesSoldSeat when a removed seat has tickets. Seats it unblocks go
    to the waiting lists of the venue's events to come.
    """
    Venue.objects.select_for_update().get(pk=venue.pk)
    existing = {
        (seat.row.section.name, seat.row.label, seat.label): seat
        for seat in Seat.objects.filter(row__section__venue=venue).select_related("row__section")
    }
    wanted = {
        (section["name"], row["label"], seat["label"])
        for section in sections
        for row in section["rows"]
        for seat in _seat_specs(row)
    }
    removed = [seat.id for k, seat in existing.items() if k not in wanted]
    with_tickets = list(
        Ticket.objects.filter(seat_id__in=removed).values_list("seat_id", flat=True).distinct()
    )
    if with_tickets:
        raise LayoutRemovesSoldSeat(with_tickets)
    Seat.objects.filter(pk__in=removed).delete()

    kept_sections = []
    for s_pos, section_spec in enumerate(sections):
        section, _ = Section.objects.update_or_create(
            venue=venue, name=section_spec["name"], defaults={"position": s_pos}
        )
        kept_sections.append(section.pk)
        kept_rows = []
        for r_pos, row_spec in enumerate(section_spec["rows"]):
            row, _ = Row.objects.update_or_create(
                section=section, label=row_spec["label"], defaults={"position": r_pos}
            )
            kept_rows.append(row.pk)
            _set_row_seats(row, _seat_specs(row_spec))
        Row.objects.filter(section=section).exclude(pk__in=kept_rows).delete()
    Section.objects.filter(venue=venue).exclude(pk__in=kept_sections).delete()
    unblocked = [seat.pk for seat in existing.values() if seat.blocked]
    unblocked = list(Seat.objects.filter(pk__in=unblocked, blocked=False)
                     .values_list("pk", flat=True))
    waiting_list_seats_unblocked(venue_id=venue.pk, seat_ids=unblocked)
    return venue


def _set_row_seats(row: Row, specs: list[dict[str, Any]]) -> None:
    current = {seat.label: seat for seat in row.seats.all()}
    # Park kept seats on numbers no spec uses, so renumbering never trips the
    # unique (row, number) constraint halfway through.
    row.seats.update(number=F("number") + PARKED)
    new, changed = [], []
    for spec in specs:
        seat = current.get(spec["label"]) or Seat(row=row, label=spec["label"])
        seat.number = spec["number"]
        seat.x, seat.y = spec.get("x"), spec.get("y")
        seat.blocked = spec.get("blocked", False)
        (changed if seat.pk else new).append(seat)
    Seat.objects.bulk_update(changed, ["number", "x", "y", "blocked"])
    Seat.objects.bulk_create(new)


@transaction.atomic
def event_prices_set(*, event: Event, prices: dict[int, int]) -> list[SectionPrice]:
    """Replace the event's prices: {section_id: amount in minor units}.

    Sections must belong to the event's venue (unknown_sections, 400). A section
    without a price is not for sale.
    """
    if event.venue_id is None:
        raise EventHasNoVenue()
    known = set(Section.objects.filter(venue_id=event.venue_id).values_list("pk", flat=True))
    unknown = sorted(set(prices) - known)
    if unknown:
        raise DomainError(
            gettext("Some sections are not at this event's venue."),
            code="unknown_sections",
            extra={"sections": unknown},
        )
    SectionPrice.objects.filter(event=event).exclude(section_id__in=list(prices)).delete()
    for section_id, amount in prices.items():
        SectionPrice.objects.update_or_create(
            event=event, section_id=section_id, defaults={"amount": amount}
        )
    return list(SectionPrice.objects.filter(event=event).select_related("section"))


def _default_duration() -> timedelta:
    return timedelta(minutes=settings.TICKETING_EVENT_DEFAULT_DURATION_MINUTES)


def event_occupies(event: Event) -> tuple[datetime, datetime]:
    """[start, end) of the time an event occupies its venue: ends_at, or the default
    duration (TICKETING_EVENT_DEFAULT_DURATION_MINUTES) when it has none."""
    return event.starts_at, event.ends_at or event.starts_at + _default_duration()


def venue_overlapping_sale(event: Event) -> Event | None:
    """Another event at `event`'s venue that is on sale (a sale configured, not ended)
    at a time overlapping `event`'s, or None. Two events overlap when each starts before
    the other ends (see event_occupies)."""
    if event.venue_id is None:
        return None
    start, end = event_occupies(event)
    ends_after_start = Q(ends_at__gt=start) | Q(
        ends_at__isnull=True, starts_at__gt=start - _default_duration())
    return (
        Event.objects.filter(
            ends_after_start, venue_id=event.venue_id, starts_at__lt=end,
            sale__isnull=False,
            # A draft with a sale sells as soon as it is published: it counts.
            status__in=[Event.Status.DRAFT, Event.Status.PUBLISHED, Event.Status.LIVE],
        )
        .exclude(pk=event.pk)
        .order_by("starts_at", "id")
        .first()
    )


@transaction.atomic
def sale_configure(
    *, event: Event, sale_starts_at=None, sale_ends_at=None, max_seats_per_order: int = 10
) -> EventSale:
    """Create or replace the event's sale settings.

    One venue sells one event's seats at a time: raises VenueDoubleBooked (409, naming
    the other event) when another event on sale at the venue overlaps this one
    (venue_overlapping_sale; docs/decisions/2026-11-30-one-event-per-venue-at-a-time.md).
    Locks the venue row, so two sales configured at once for overlapping events at one
    venue cannot both pass.
    """
    if sale_starts_at and sale_ends_at and sale_ends_at <= sale_starts_at:
        raise DomainError(gettext("The sale must end after it starts."), code="invalid_sale_window")
    if event.venue_id is not None:
        Venue.objects.select_for_update().filter(pk=event.venue_id).first()
        other = venue_overlapping_sale(event)
        if other is not None:
            raise VenueDoubleBooked(other)
    sale, _ = EventSale.objects.update_or_create(
        event=event,
        defaults={
            "sale_starts_at": sale_starts_at,
            "sale_ends_at": sale_ends_at,
            "max_seats_per_order": max_seats_per_order,
        },
    )
    waiting_room_resync_sale(event=event)  # the room opens and admits by the sale's start
    return sale
