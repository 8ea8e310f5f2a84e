"""Purchases and refunds.

PostgreSQL is the arbiter of a sale, whatever the hold backend says:
1. the hold row is locked and must be live and the caller's;
2. the backend confirms the hold still owns every seat;
3. each seat's fence (SeatFence) moves to this hold's fencing token only if it
   is newer than the last one that bought the seat: a stale hold, whose seat
   Redis lost and gave to someone else, cannot buy;
4. the wallet row is locked and debited by one conditional UPDATE (hold row,
   fences, then wallet: the same order everywhere, no deadlock);
5. tickets are inserted under the partial unique constraint "one valid ticket
   per (event, seat)": even if all of the above lied, a seat is sold once.
Any refusal rolls the whole transaction back: no charge, no order. One refusal also
commits something: a hold whose sale closed (the sale window ended, the event started,
went back to draft or was cancelled) is released in the purchase's transaction, which then
commits, and SaleClosed is raised after it.
"""

from __future__ import annotations

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from core import webhooks
from core.failpoints import failpoint
from core.models import Event, User
from ticketing import selectors
from ticketing.errors import (
    HoldAlreadyPurchased,
    HoldExpired,
    HoldLost,
    HoldNotFound,
    PriceChanged,
    SeatAlreadySold,
    SeatsNotForSale,
    TicketNotFound,
    TicketNotRefundable,
)
from ticketing.models import (
    Order,
    SeatFence,
    SeatHold,
    Ticket,
    TicketRedemption,
    WalletTransaction,
)
from ticketing.seat_locks import SeatLockBackend, seat_lock_backend, seat_lock_transaction
from ticketing.services.holds import (
    ON_SALE_STATUSES,
    event_not_on_sale,
    release_locked_hold,
    sale_refusal,
)
from ticketing.services.seat_changes import seat_changes_record
from ticketing.services.waiting_room import queue_pass_require, queue_purchase_record
from ticketing.services.wallets import locked_wallet, wallet_debit, wallet_move_money


def hold_purchase(*, token: str, user: User, expected_total: int | None = None,
                  queue_pass: str | None = None) -> Order:
    """Turn the caller's live hold into a paid order with one ticket per seat.

    One transaction: locks the hold, then the wallet; debits the total; creates
    the order and tickets; marks the hold purchased. The returned order carries
    its tickets (with seat, row and section) in memory: render it without a query.
    Raises HoldNotFound (unknown or another user's: 404), HoldExpired (410),
    HoldAlreadyPurchased (409), SaleClosed (409: the sale closed since the hold was made;
    the hold is released, that much commits), PriceChanged (409: the seats' total is not
    the one held, nor `expected_total`, the total the buyer confirmed), InsufficientFunds
    (402), HoldLost / SeatAlreadySold (409), SeatLocksBusy (503 "busy": a row lock waited
    past TICKETING_SEAT_LOCK_TIMEOUT_MS), QueueRequired (403: the event's waiting room is
    on and `queue_pass` is not this buyer's valid pass; a hold made before the room
    existed needs none). The order carries `queue_checked` (was a pass checked).
    Runs its own transaction (seat_lock_transaction): never call it inside another.
    Publishes seat.sold and queues the event's `ticket.sold` webhooks (only when the
    event has an active endpoint), only if it commits; seat.released when it releases.
    The buyer's confirmation email (tickets, QR codes, PDF) goes out from the scheduler
    (order_confirmations_send), not from this request.
    """
    backend = seat_lock_backend()
    with seat_lock_transaction():
        hold = (
            # The hold's row only is locked; its event and sale come in the same query.
            SeatHold.objects.select_for_update(of=("self",))
            .select_related("event__sale", "event__waiting_room")
            .annotate(has_webhooks=webhooks.active_endpoints_exist())
            .filter(token=token, user=user)
            .first()
        )
        if hold is None:
            raise HoldNotFound()
        if hold.status == SeatHold.Status.PURCHASED:
            raise HoldAlreadyPurchased()
        if hold.status != SeatHold.Status.ACTIVE or hold.expires_at <= timezone.now():
            raise HoldExpired()
        closed = sale_refusal(hold.event)
        queue_checked = closed is None and queue_pass_require(
            event=hold.event, user=user, queue_pass=queue_pass, hold=hold)
        if queue_checked:
            queue_purchase_record(event_id=hold.event_id, user_id=user.pk)
        if closed is None:
            order, tickets = _sell(hold=hold, user=user, token=token, backend=backend,
                                   expected_total=expected_total)
        else:
            # Committed with this block (a raise here would roll it back): the seats go
            # back on sale now rather than when the hold expires.
            release_locked_hold(hold=hold, user=user)
    if closed is not None:
        raise closed
    # The answer is built from what is in memory: `order.tickets.all()` answers
    # with these tickets (each with its seat, row and section) as if prefetched.
    # In the model's order (newest first), as a read-back answers.
    prefetched = Ticket.objects.filter(order=order)
    prefetched._result_cache = sorted(tickets, key=lambda t: (t.created_at, t.pk), reverse=True)
    prefetched._prefetch_done = True
    order._prefetched_objects_cache = {"tickets": prefetched}
    order.queue_checked = queue_checked
    return order


def _sell(*, hold: SeatHold, user: User, token: str, backend: SeatLockBackend,
          expected_total: int | None) -> tuple[Order, list[Ticket]]:
    """hold_purchase's sale of a locked live hold whose sale is open."""
    seats = selectors.seats_with_prices(event_id=hold.event_id, seat_ids=hold.seat_ids)
    if len(seats) != len(hold.seat_ids):
        # A layout change removed a seat while it was held.
        gone = sorted(set(hold.seat_ids) - {s.id for s in seats})
        raise HoldLost(gone)
    unpriced = [s.id for s in seats if s.price is None or s.blocked]
    if unpriced:
        raise SeatsNotForSale(unpriced)
    total = sum(s.price for s in seats)
    # The buyer agreed to the total shown when holding, or to the one they confirm.
    agreed = hold.total if expected_total is None else expected_total
    if agreed is not None and total != agreed:
        raise PriceChanged(old_total=agreed, new_total=total)

    lost = backend.lost_seats(hold)
    if lost:
        raise HoldLost(lost)
    # The seam where a test makes Redis "lie" (deletes its keys, lets another buyer
    # in) to prove the database still holds (core/failpoints.py).
    failpoint("hold.purchase.verified", hold=hold)
    stale = _advance_fences(hold)
    if stale:
        raise HoldLost(stale)

    _check_event_still_on_sale(hold.event_id)
    order = Order.objects.create(
        user=user, event_id=hold.event_id, total=total, hold_token=token
    )
    # Locks the wallet row (after the hold row: one order, no deadlock) and
    # debits it in one statement; InsufficientFunds rolls everything back.
    wallet_debit(user=user, amount=total, kind=WalletTransaction.Kind.PURCHASE,
                 reference=f"order:{order.pk}", actor=user)
    tickets = [
        Ticket(order=order, user=user, event_id=hold.event_id, seat=seat, price=seat.price)
        for seat in seats
    ]
    try:
        # No savepoint: a violated "one valid ticket per seat" ends the whole sale.
        Ticket.objects.bulk_create(tickets)
    except IntegrityError:
        raise SeatAlreadySold() from None
    hold.status = SeatHold.Status.PURCHASED
    hold.save(update_fields=["status"])
    backend.mark_sold(hold)
    seat_changes_record(
        event_id=hold.event_id, seat_ids=hold.seat_ids, reason="sold", user_id=user.pk,
        hold=hold, order=order,
    )
    if hold.has_webhooks:
        webhooks.emit(event_id=hold.event_id, kind="ticket.sold", payload={
            "order_id": order.pk, "user_id": user.pk, "total": total,
            "tickets": [{"id": t.pk, "seat_id": t.seat_id, "price": t.price}
                        for t in sorted(tickets, key=lambda t: t.pk)],
        })
    return order, tickets


def _check_event_still_on_sale(event_id: int) -> None:
    """The event as committed now, read under a share lock (PostgreSQL).

    The event came with the hold, unlocked: an unpublish or a cancellation
    committing meanwhile would otherwise still sell (the order's foreign-key check
    only waits for it at COMMIT, then passes). FOR SHARE waits for such an update
    and reads its result, without making purchases of one event wait for each
    other. SQLite runs one writer at a time: nothing can commit meanwhile.
    """
    if connection.vendor != "postgresql":
        return
    table = Event._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT status FROM {table} WHERE id = %s FOR SHARE",  # noqa: S608
                       [event_id])
        row = cursor.fetchone()
    if row is None or row[0] not in ON_SALE_STATUSES:
        raise event_not_on_sale()


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
    action). Raises TicketNotRefundable (409) when cancelled already, used at a gate
    or the event has started. Publishes seat.released and queues `ticket.refunded` webhooks.
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
        # Gates open before the event starts: a ticket that let someone in must not also
        # pay its price back and put its seat on sale again. The ticket's row lock (taken
        # above, and by every scan before it redeems) orders this check and a redemption.
        if TicketRedemption.objects.filter(ticket_id=ticket.pk).exists():
            raise TicketNotRefundable("This ticket has been used at the gate.")
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
