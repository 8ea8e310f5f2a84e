"""Purchases and refunds.

PostgreSQL is the arbiter of a sale, whatever the hold backend says:
1. the hold row is locked and must be live and the caller's;
2. the wallet row is locked (hold row first, then wallet: one order, no deadlock);
3. the backend confirms the hold still owns every seat;
4. each seat's fence (SeatFence) moves to this hold's fencing token only if it
   is newer than the last one that bought the seat: a stale hold, whose seat
   Redis lost and gave to someone else, cannot buy;
5. tickets are inserted under the partial unique constraint "one valid ticket
   per (event, seat)": even if all of the above lied, a seat is sold once.
Any refusal rolls the whole transaction back: no charge, no order.
"""

from __future__ import annotations

from django.db import IntegrityError, connection, transaction
from django.dispatch import Signal
from django.utils import timezone

from core import webhooks
from core.models import User
from ticketing import selectors
from ticketing.errors import (
    HoldAlreadyPurchased,
    HoldExpired,
    HoldLost,
    HoldNotFound,
    InsufficientFunds,
    SeatAlreadySold,
    SeatsNotForSale,
    TicketNotFound,
    TicketNotRefundable,
)
from ticketing.models import Order, Seat, SeatFence, SeatHold, Ticket, WalletTransaction
from ticketing.seat_locks import seat_lock_backend, seat_lock_transaction
from ticketing.services.seat_changes import seat_changes_record
from ticketing.services.wallets import locked_wallet, wallet_move_money

# Sent inside the purchase transaction after the hold backend confirmed the
# seats and before the database writes: the seam where a test makes Redis
# "lie" (deletes its keys, lets another buyer in) to prove the database holds.
purchase_verified = Signal()


def hold_purchase(*, token: str, user: User) -> Order:
    """Turn the caller's live hold into a paid order with one ticket per seat.

    One transaction: locks the hold, then the wallet; debits the total; creates
    the order and tickets; marks the hold purchased. Raises HoldNotFound (unknown
    or another user's: 404), HoldExpired (410), HoldAlreadyPurchased (409),
    InsufficientFunds (402), HoldLost / SeatAlreadySold (409), SeatLocksBusy (503
    "busy": a row lock waited past TICKETING_SEAT_LOCK_TIMEOUT_MS). Runs its own
    transaction (seat_lock_transaction): never call it inside another. Publishes
    seat.sold and queues the event's `ticket.sold` webhooks, both only if it commits.
    """
    backend = seat_lock_backend()
    with seat_lock_transaction():
        hold = SeatHold.objects.select_for_update().filter(token=token, user=user).first()
        if hold is None:
            raise HoldNotFound()
        if hold.status == SeatHold.Status.PURCHASED:
            raise HoldAlreadyPurchased()
        if hold.status != SeatHold.Status.ACTIVE or hold.expires_at <= timezone.now():
            raise HoldExpired()
        prices = selectors.section_prices(hold.event_id)
        seats = list(Seat.objects.filter(pk__in=hold.seat_ids).select_related("row"))
        if len(seats) != len(hold.seat_ids):
            # A layout change removed a seat while it was held.
            gone = sorted(set(hold.seat_ids) - {s.id for s in seats})
            raise HoldLost(gone)
        unpriced = [s.id for s in seats if s.row.section_id not in prices]
        if unpriced:
            raise SeatsNotForSale(unpriced)
        total = sum(prices[s.row.section_id] for s in seats)

        wallet = locked_wallet(user.pk)
        if wallet.balance < total:
            raise InsufficientFunds(extra={"balance": wallet.balance, "total": total})
        lost = backend.lost_seats(hold)
        if lost:
            raise HoldLost(lost)
        purchase_verified.send(sender=SeatHold, hold=hold)
        stale = _advance_fences(hold)
        if stale:
            raise HoldLost(stale)

        order = Order.objects.create(
            user=user, event_id=hold.event_id, total=total, hold_token=token
        )
        try:
            with transaction.atomic():
                Ticket.objects.bulk_create(
                    Ticket(
                        order=order,
                        user=user,
                        event_id=hold.event_id,
                        seat=seat,
                        price=prices[seat.row.section_id],
                    )
                    for seat in seats
                )
        except IntegrityError:
            raise SeatAlreadySold() from None
        wallet_move_money(
            wallet=wallet, amount=-total, kind=WalletTransaction.Kind.PURCHASE,
            reference=f"order:{order.pk}", actor=user,
        )
        hold.status = SeatHold.Status.PURCHASED
        hold.save(update_fields=["status"])
        backend.mark_sold(hold)
        seat_changes_record(
            event_id=hold.event_id, seat_ids=hold.seat_ids, reason="sold", user_id=user.pk,
            hold=hold, order=order,
        )
        webhooks.emit(event_id=hold.event_id, kind="ticket.sold", payload={
            "order_id": order.pk, "user_id": user.pk, "total": total,
            "tickets": list(order.tickets.values("id", "seat_id", "price").order_by("id")),
        })
    return order


def _advance_fences(hold: SeatHold) -> list[int]:
    """Move each seat's fence to the hold's; -> seats where a newer fence already bought."""
    table = SeatFence._meta.db_table
    rows = ", ".join(["(%s, %s, %s)"] * len(hold.seat_ids))
    params: list[int] = []
    for seat_id in hold.seat_ids:
        params += [hold.event_id, seat_id, hold.fence]
    # Same SQL on PostgreSQL and SQLite (>= 3.35): conditional upsert with RETURNING.
    sql = (
        f"INSERT INTO {table} (event_id, seat_id, fence) VALUES {rows} "  # noqa: S608 (no user input)
        f"ON CONFLICT (event_id, seat_id) DO UPDATE SET fence = excluded.fence "
        f"WHERE {table}.fence < excluded.fence RETURNING seat_id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        advanced = {row[0] for row in cursor.fetchall()}
    return [s for s in hold.seat_ids if s not in advanced]


def ticket_cancel(*, ticket_id: int, user: User, as_staff: bool = False) -> Ticket:
    """Cancel a valid ticket before its event starts: refund the price, free the seat.

    Locks the ticket, then the owner's wallet. Only the owner may cancel (another
    user's ticket: TicketNotFound, 404) unless `as_staff` (the admin's refund
    action). Raises TicketNotRefundable (409) when cancelled already or the event
    has started. Publishes seat.released and queues `ticket.refunded` webhooks.
    """
    with transaction.atomic():
        tickets = Ticket.objects.select_for_update().filter(pk=ticket_id)
        if not as_staff:
            tickets = tickets.filter(user=user)
        ticket = tickets.first()
        if ticket is None:
            raise TicketNotFound()
        if ticket.status != Ticket.Status.VALID:
            raise TicketNotRefundable("This ticket is already cancelled.")
        if ticket.event.starts_at <= timezone.now():
            raise TicketNotRefundable("The event has started; tickets can no longer be cancelled.")
        wallet = locked_wallet(ticket.user_id)
        wallet_move_money(
            wallet=wallet, amount=ticket.price, kind=WalletTransaction.Kind.REFUND,
            reference=f"ticket:{ticket.pk}", actor=user,
        )
        ticket.status = Ticket.Status.CANCELLED
        ticket.cancelled_at = timezone.now()
        ticket.save(update_fields=["status", "cancelled_at"])
        order = Order.objects.select_for_update().get(pk=ticket.order_id)
        still_valid = order.tickets.filter(status=Ticket.Status.VALID).exists()
        order.status = Order.Status.PARTIALLY_REFUNDED if still_valid else Order.Status.REFUNDED
        order.save(update_fields=["status"])
        seat_lock_backend().mark_free(
            event_id=ticket.event_id, seat_ids=[ticket.seat_id], token=order.hold_token
        )
        seat_changes_record(
            event_id=ticket.event_id, seat_ids=[ticket.seat_id], reason="refunded",
            user_id=user.pk, order=order,
        )
        webhooks.emit(event_id=ticket.event_id, kind="ticket.refunded", payload={
            "ticket_id": ticket.pk, "order_id": order.pk, "user_id": ticket.user_id,
            "seat_id": ticket.seat_id, "amount": ticket.price,
        })
    return ticket
