"""Ticketing reads shared by views, consumers, the admin and the live app."""

from __future__ import annotations

from typing import NamedTuple

from django.db import connection
from django.db.models import Count, Prefetch, QuerySet

from core.models import Event, User, Venue
from ticketing.best_available import RowSeat, SeatRow
from ticketing.models import (
    Order,
    Row,
    Seat,
    SeatHold,
    SeatStatusChange,
    Section,
    SectionPrice,
    Ticket,
    Wallet,
    WalletTransaction,
)
from ticketing.seat_locks import seat_lock_backend

FREE, HELD, SOLD, BLOCKED = "free", "held", "sold", "blocked"


def venue_seats(venue_id: int, *, section_id: int | None = None) -> QuerySet[Seat]:
    seats = Seat.objects.filter(row__section__venue_id=venue_id).select_related("row__section")
    if section_id is not None:
        seats = seats.filter(row__section_id=section_id)
    return seats.order_by("row__section__position", "row__position", "number", "id")


def section_prices(event_id: int) -> dict[int, int]:
    return dict(SectionPrice.objects.filter(event_id=event_id).values_list("section_id", "amount"))


class HoldSeatRow(NamedTuple):
    """One seat as a hold checks and shows it (seats_to_hold)."""

    id: int
    blocked: bool
    price: int | None  # the section's amount for the event; None: not priced
    sold: bool
    section_id: int
    section: str
    row: str
    label: str
    number: int

    def line(self) -> dict:
        """The seat as a hold's answer lists it (HoldOutput's `seat_details`)."""
        return {"id": self.id, "section_id": self.section_id, "section": self.section,
                "row": self.row, "label": self.label, "number": self.number,
                "price": self.price}


def seats_to_hold(*, event_id: int, venue_id: int | None,
                  seat_ids: list[int]) -> list[HoldSeatRow]:
    """Those of `seat_ids` at the venue (any venue when None), each with its blocked flag,
    price for the event, sold flag and the names a hold's answer shows; one query.

    A hold's checks (the seat exists at the venue, is priced for the event, is
    not blocked, is not sold), its total and its answer read one statement instead of
    four. Plain SQL: the ORM spent longer compiling this query than the database running
    it (cProfile on the hold path), and it is the same on PostgreSQL and SQLite.
    """
    if not seat_ids:
        return []
    seat, row, section = Seat._meta.db_table, Row._meta.db_table, Section._meta.db_table
    price, ticket = SectionPrice._meta.db_table, Ticket._meta.db_table
    placeholders = ", ".join(["%s"] * len(seat_ids))
    venue_clause = "sec.venue_id = %s AND " if venue_id is not None else ""
    sql = (
        f"SELECT s.id, s.blocked, "  # noqa: S608 (table names from models, values bound)
        f"(SELECT p.amount FROM {price} p WHERE p.event_id = %s AND p.section_id = r.section_id), "
        f"EXISTS (SELECT 1 FROM {ticket} t WHERE t.event_id = %s AND t.seat_id = s.id "
        f"AND t.status = %s), sec.id, sec.name, r.label, s.label, s.number "
        f"FROM {seat} s JOIN {row} r ON r.id = s.row_id "
        f"JOIN {section} sec ON sec.id = r.section_id "
        f"WHERE {venue_clause}s.id IN ({placeholders}) "
        f"ORDER BY sec.position, r.position, s.number, s.id"
    )
    venue_param = [venue_id] if venue_id is not None else []
    with connection.cursor() as cursor:
        cursor.execute(sql, [event_id, event_id, Ticket.Status.VALID.value, *venue_param,
                             *seat_ids])
        return [HoldSeatRow(id_, bool(blocked), price, bool(sold), *names)
                for id_, blocked, price, sold, *names in cursor.fetchall()]


def holds_seat_lines(holds: list[SeatHold]) -> None:
    """Give each hold its `seat_details` (by section, row, number) with today's prices:
    two queries for all of them, whatever their number (a page of "my holds")."""
    todo = [h for h in holds if getattr(h, "seat_details", None) is None]
    if not todo:
        return
    ids = set().union(*(h.seat_ids for h in todo))
    found = {s.id: s for s in Seat.objects.filter(id__in=ids).select_related("row__section")}
    prices = {(event_id, section_id): amount for event_id, section_id, amount in
              SectionPrice.objects.filter(event_id__in={h.event_id for h in todo})
              .values_list("event_id", "section_id", "amount")}
    for h in todo:
        seats = sorted((found[i] for i in h.seat_ids if i in found),
                       key=lambda s: (s.row.section.position, s.row.position, s.number, s.id))
        h.seat_details = [
            HoldSeatRow(s.id, s.blocked, prices.get((h.event_id, s.row.section_id)), False,
                        s.row.section_id, s.row.section.name, s.row.label, s.label,
                        s.number).line()
            for s in seats
        ]


def seats_with_prices(*, event_id: int, seat_ids: list[int]) -> list[Seat]:
    """The seats with their row and section loaded and `price` (None: not priced), one query.

    Plain SQL for the purchase's hot path (see seats_to_hold); the instances carry
    what a purchase and its answer read: the seat's label, number and blocked
    flag, its row's label and section, the section's name.
    """
    if not seat_ids:
        return []
    seat, row, section = Seat._meta.db_table, Row._meta.db_table, Section._meta.db_table
    price = SectionPrice._meta.db_table
    placeholders = ", ".join(["%s"] * len(seat_ids))
    sql = (
        f"SELECT s.id, s.label, s.number, s.blocked, r.id, r.label, r.position, "  # noqa: S608
        f"sec.id, sec.name, sec.venue_id, p.amount "
        f"FROM {seat} s JOIN {row} r ON r.id = s.row_id "
        f"JOIN {section} sec ON sec.id = r.section_id "
        f"LEFT JOIN {price} p ON p.section_id = sec.id AND p.event_id = %s "
        f"WHERE s.id IN ({placeholders}) ORDER BY s.id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [event_id, *seat_ids])
        found = cursor.fetchall()
    seats = []
    for (seat_id, label, number, blocked, row_id, row_label, position, section_id, name,
         venue_id, amount) in found:
        section_obj = Section(id=section_id, name=name, venue_id=venue_id)
        row_obj = Row(id=row_id, label=row_label, position=position, section=section_obj)
        seat_obj = Seat(id=seat_id, label=label, number=number, blocked=bool(blocked), row=row_obj)
        seat_obj.price = amount
        seats.append(seat_obj)
    return seats


def sold_seat_ids(event_id: int, seat_ids: list[int] | None = None) -> set[int]:
    tickets = Ticket.objects.filter(event_id=event_id, status=Ticket.Status.VALID)
    if seat_ids is not None:
        tickets = tickets.filter(seat_id__in=seat_ids)
    return set(tickets.values_list("seat_id", flat=True))


def seat_statuses(event: Event, seats: list[Seat], prices: dict[int, int]) -> dict[int, str]:
    """Status of each seat now. An expired hold counts as free even before the sweeper runs."""
    ids = [s.id for s in seats]
    sold = sold_seat_ids(event.id)
    held = seat_lock_backend().held_seat_ids(event.id, ids)
    statuses = {}
    for seat in seats:
        if seat.id in sold:
            statuses[seat.id] = SOLD
        elif seat.blocked or seat.row.section_id not in prices:
            statuses[seat.id] = BLOCKED
        elif seat.id in held:
            statuses[seat.id] = HELD
        else:
            statuses[seat.id] = FREE
    return statuses


def best_available_rows(event: Event, *, section_id: int | None) -> list[SeatRow]:
    seats = list(venue_seats(event.venue_id, section_id=section_id))
    statuses = seat_statuses(event, seats, section_prices(event.id))
    rows: dict[int, SeatRow] = {}
    for seat in seats:
        row = rows.get(seat.row_id)
        if row is None:
            rank = (seat.row.position, seat.row.section.position, seat.row_id)
            row = rows[seat.row_id] = SeatRow(rank=rank, seats=[])
        row.seats.append(RowSeat(seat.id, seat.number, statuses[seat.id] == FREE))
    return list(rows.values())


def ticket_holders(event: Event) -> QuerySet[User]:
    """Users holding a valid (not cancelled) ticket for the event (draw eligibility)."""
    return User.objects.filter(
        tickets__event=event, tickets__status=Ticket.Status.VALID
    ).distinct()


def venue_layout(venue_id: int) -> list[Section]:
    return list(
        Section.objects.filter(venue_id=venue_id).prefetch_related("rows__seats").order_by(
            "position", "id"
        )
    )


def venues_with_counts() -> QuerySet[Venue]:
    """Venues with `sections_count` and `seats_count`, by name: one query per page."""
    return Venue.objects.annotate(
        sections_count=Count("sections", distinct=True),
        seats_count=Count("sections__rows__seats"),
    ).order_by("name", "id")


def venue_summary(venue_id: int) -> list[Section]:
    """The venue's sections in order, each with `rows_count` and `seats_count` (one query)."""
    return list(Section.objects.filter(venue_id=venue_id).annotate(
        rows_count=Count("rows", distinct=True), seats_count=Count("rows__seats"),
    ).order_by("position", "id"))


def holds_live_of(user: User) -> QuerySet[SeatHold]:
    """The user's holds that still hold seats (active, not expired), newest first."""
    from django.utils import timezone

    return SeatHold.objects.filter(
        user=user, status=SeatHold.Status.ACTIVE, expires_at__gt=timezone.now()
    ).order_by("-created_at", "-id")


def hold_for_owner(*, token: str, user: User) -> SeatHold | None:
    return SeatHold.objects.filter(token=token, user=user).first()


def orders_of(user: User) -> QuerySet[Order]:
    """The user's orders with their tickets, each ticket's seat, row and section in the
    same query as the tickets: three statements for a page with its count."""
    return (
        Order.objects.filter(user=user)
        .select_related("event")
        .prefetch_related(Prefetch(
            "tickets", queryset=Ticket.objects.select_related("seat__row__section")))
    )


def tickets_of(user: User, *, event_id: int | None = None) -> QuerySet[Ticket]:
    # The event's signing key comes along: each ticket's answer carries its signed code.
    tickets = Ticket.objects.filter(user=user).select_related(
        "event__venue", "event__signing_key", "seat__row__section").order_by("-created_at", "-id")
    if event_id is not None:
        tickets = tickets.filter(event_id=event_id)
    return tickets


def wallet_of(user: User) -> Wallet:
    """The user's wallet; an unsaved empty one when they never topped up."""
    return Wallet.objects.filter(user=user).first() or Wallet(user=user, balance=0)


def wallet_transactions_of(user: User) -> QuerySet[WalletTransaction]:
    return WalletTransaction.objects.filter(wallet__user=user)


def seat_history(*, event: Event, seat_id: int) -> QuerySet[SeatStatusChange]:
    return SeatStatusChange.objects.filter(event=event, seat_id=seat_id).select_related(
        "user", "order"
    )


def active_hold_count() -> int:
    """Holds that are active and not yet expired (the live-holds metric)."""
    from django.db import DatabaseError
    from django.utils import timezone

    try:
        return SeatHold.objects.filter(
            status=SeatHold.Status.ACTIVE, expires_at__gt=timezone.now()
        ).count()
    except DatabaseError:  # a scrape must not fail because the database blinked
        return -1
