"""Ticketing reads shared by views, consumers, the admin and the live app."""

from __future__ import annotations

from django.db.models import Exists, OuterRef, QuerySet, Subquery

from core.models import Event, User
from ticketing.best_available import RowSeat, SeatRow
from ticketing.models import (
    Order,
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


def seats_to_hold(*, event_id: int, venue_id: int, seat_ids: list[int]) -> list[tuple]:
    """(id, blocked, priced, sold) for those of `seat_ids` at the venue, in one query.

    A hold's checks (the seat exists at the venue, is priced for the event, is
    not blocked, is not sold) read one statement instead of three.
    """
    return list(
        Seat.objects.filter(id__in=seat_ids, row__section__venue_id=venue_id)
        .annotate(
            priced=Exists(SectionPrice.objects.filter(
                event_id=event_id, section_id=OuterRef("row__section_id"))),
            sold=Exists(Ticket.objects.filter(
                event_id=event_id, seat_id=OuterRef("pk"), status=Ticket.Status.VALID)),
        )
        .values_list("id", "blocked", "priced", "sold")
    )


def seats_with_prices(*, event_id: int, seat_ids: list[int]) -> list[Seat]:
    """The seats with their row and section loaded and `price` (None: not priced), one query."""
    return list(
        Seat.objects.filter(pk__in=seat_ids)
        .select_related("row__section")
        .annotate(price=Subquery(SectionPrice.objects.filter(
            event_id=event_id, section_id=OuterRef("row__section_id")).values("amount")[:1]))
    )


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


def hold_for_owner(*, token: str, user: User) -> SeatHold | None:
    return SeatHold.objects.filter(token=token, user=user).first()


def orders_of(user: User) -> QuerySet[Order]:
    return (
        Order.objects.filter(user=user)
        .select_related("event")
        .prefetch_related("tickets__seat__row__section")
    )


def tickets_of(user: User, *, event_id: int | None = None) -> QuerySet[Ticket]:
    tickets = Ticket.objects.filter(user=user).select_related("event", "seat__row__section")
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
