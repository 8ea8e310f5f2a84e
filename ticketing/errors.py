"""Ticketing's domain errors: each answer a client can act on has its own code."""

from __future__ import annotations

from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from rest_framework import status

from core.errors import Conflict, DomainError, NotFound, ServiceUnavailable
from core.local_time import api_iso


class ListsSeats:
    """Mixin: the error body names the seats concerned, as {"seats": [ids]}."""

    def __init__(self, seat_ids: list[int], detail: str | None = None) -> None:
        super().__init__(detail, extra={"seats": sorted(seat_ids)})


class SeatsUnavailable(ListsSeats, Conflict):
    code = "seats_unavailable"
    detail = _("Some of the requested seats are not free.")


class NotEnoughAdjacentSeats(Conflict):
    code = "not_enough_adjacent_seats"
    detail = _("No row has that many free seats side by side.")


class UnknownSeats(ListsSeats, DomainError):
    code = "unknown_seats"
    detail = _("Some seats do not exist at this event's venue.")


class SeatsNotForSale(ListsSeats, Conflict):
    code = "seats_not_for_sale"
    detail = _("Some seats are blocked or have no price for this event.")


class TooManySeats(DomainError):
    code = "too_many_seats"
    detail = _("More seats than one order may have.")


class SaleClosed(Conflict):
    code = "sale_closed"
    detail = _("Seats for this event are not on sale now.")


class HoldLimitReached(Conflict):
    code = "hold_limit_reached"
    detail = _("You already hold as many seats for this event as one account may.")

    def __init__(self, *, held: int, limit: int) -> None:
        super().__init__(
            ngettext("You hold %(held)d seat for this event; one account may hold at most "
                     "%(limit)d at once. Buy or release some first.",
                     "You hold %(held)d seats for this event; one account may hold at most "
                     "%(limit)d at once. Buy or release some first.", held)
            % {"held": held, "limit": limit},
            extra={"held": held, "limit": limit},
        )


class PriceChanged(Conflict):
    code = "price_changed"
    detail = _("The price changed since the seats were held; nothing was charged.")

    def __init__(self, *, old_total: int | None, new_total: int) -> None:
        super().__init__(
            gettext("The seats now cost %(new_total)s in total instead of %(old_total)s; "
                        "nothing was charged. Buy again with expected_total set to the new "
                        "total to accept it.") % {"new_total": new_total, "old_total": old_total},
            extra={"old_total": old_total, "new_total": new_total},
        )


class VenueDoubleBooked(Conflict):
    code = "venue_double_booked"
    detail = _("Another event at this venue is on sale at an overlapping time.")

    def __init__(self, other) -> None:
        super().__init__(
            gettext("\"%(title)s\" (event %(id)s) is on sale at this venue at an "
                        "overlapping time; one venue sells one event's seats at a time.")
            % {"title": other.title, "id": other.pk},
            extra={"event": {"id": other.pk, "title": other.title,
                             "starts_at": api_iso(other.starts_at),
                             "ends_at": api_iso(other.ends_at)}},
        )


class HoldNotFound(NotFound):
    code = "hold_not_found"
    detail = _("No such hold.")


class HoldExpired(DomainError):
    code = "hold_expired"
    detail = _("The hold has expired; its seats are free again.")
    status_code = status.HTTP_410_GONE


class HoldAlreadyPurchased(Conflict):
    code = "hold_already_purchased"
    detail = _("This hold has already been turned into an order.")


class HoldLost(ListsSeats, Conflict):
    code = "hold_lost"
    detail = _("The hold no longer owns all its seats; nothing was charged.")


class HoldLifetimeExceeded(Conflict):
    code = "hold_lifetime_exceeded"
    detail = _("The hold cannot be extended any further.")


class InsufficientFunds(DomainError):
    code = "insufficient_funds"
    detail = _("The wallet balance is too low for this purchase.")
    status_code = status.HTTP_402_PAYMENT_REQUIRED


class SeatAlreadySold(Conflict):
    code = "seat_already_sold"
    detail = _("A seat of this hold was sold meanwhile; nothing was charged.")


class TicketNotFound(NotFound):
    code = "ticket_not_found"
    detail = _("No such ticket.")


class TicketNotRefundable(Conflict):
    code = "ticket_not_refundable"
    detail = _("This ticket can no longer be cancelled.")


class LayoutRemovesSoldSeat(ListsSeats, Conflict):
    code = "layout_removes_sold_seat"
    detail = _("The new layout would remove seats that have tickets.")


class EventHasNoVenue(Conflict):
    code = "event_has_no_venue"
    detail = _("This event has no venue, so it has no seats.")


class SeatLocksUnavailable(ServiceUnavailable):
    code = "seat_locks_unavailable"
    detail = _("Seat holds are unavailable right now; try again shortly.")


class SeatLocksBusy(ServiceUnavailable):
    code = "busy"
    detail = _("These seats or this wallet are being changed by another request; try again "
               "shortly.")


# --- Idempotency keys (ticketing/idempotency.py) -----------------------------------


class IdempotencyKeyReused(DomainError):
    code = "idempotency_key_reused"
    detail = _("This Idempotency-Key was used with a different request.")
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY


class IdempotentRequestInProgress(Conflict):
    code = "idempotency_request_in_progress"
    detail = _("A request with this Idempotency-Key is still being processed; retry shortly.")


class InvalidIdempotencyKey(DomainError):
    code = "invalid_idempotency_key"
    # ticketing/idempotency.py raises it naming its MAX_KEY_LENGTH.
    detail = _("The Idempotency-Key header is empty or too long.")


# --- The waiting room (ticketing/services/waiting_room.py) ---------------------------


def queue_links(event_id: int) -> dict[str, str]:
    """Where a buyer joins the line of an event, and where its place streams."""
    return {"join": f"/api/events/{event_id}/queue/", "stream": f"/ws/events/{event_id}/queue/"}


class QueueRequired(DomainError):
    """403: the event's waiting room is on and this request has no valid admission pass."""

    code = "queue_required"
    status_code = status.HTTP_403_FORBIDDEN
    REASONS = {
        "missing": _("This sale has a waiting room: join the line and use the admission pass "
                     "you get at the front (the Queue-Pass header)."),
        "invalid": _("The admission pass is not valid for this account and event."),
        "expired": _("Your admission pass has expired; join the line again."),
        "stale": _("This admission pass was replaced by a newer one; use the newest."),
        "none": _("You have no admission pass for this event; join the line."),
    }

    def __init__(self, *, event_id: int, reason: str) -> None:
        super().__init__(self.REASONS[reason],
                         extra={"reason": reason, "queue": queue_links(event_id)})


class QueueNotFound(NotFound):
    code = "queue_not_found"
    detail = _("This event has no waiting room.")


class QueueNotOpen(Conflict):
    code = "queue_not_open"

    def __init__(self, *, opens_at: str) -> None:
        super().__init__(gettext("The waiting room opens at %(opens_at)s.")
                         % {"opens_at": opens_at}, extra={"opens_at": opens_at})


class QueueClosed(Conflict):
    code = "queue_closed"
    detail = _("The waiting room is closed: the sale is open to everyone, no pass needed.")


class QueueMailboxTaken(Conflict):
    code = "queue_mailbox_taken"
    detail = _("Another account with the same mailbox already has a place in this line; "
              "one place per person.")



# --- Payments (ticketing/services/payments.py, ticketing/payments/) ------------------


class InvalidTopUpAmount(DomainError):
    code = "invalid_amount"

    def __init__(self, *, limit: int) -> None:
        super().__init__(gettext("A top-up is between 1 and %(max)d minor units.")
                         % {"max": limit}, extra={"limit": limit})


class TopUpDailyLimitReached(Conflict):
    code = "top_up_limit_reached"

    def __init__(self, *, limit: int, used: int) -> None:
        super().__init__(
            gettext("Top-ups started in the last 24 hours add up to %(used)d; one account may "
                    "top up at most %(limit)d a day. Try a smaller amount or later.")
            % {"used": used, "limit": limit},
            extra={"limit": limit, "used": used},
        )


class PaymentNotFound(NotFound):
    code = "payment_not_found"
    detail = _("No such payment.")


class PaymentNotPending(Conflict):
    code = "payment_not_pending"
    detail = _("This payment is no longer waiting for its money.")


class PaymentNotManual(Conflict):
    code = "payment_not_manual"
    detail = _("Only bank transfers are confirmed by staff; card payments confirm themselves.")


class PaymentNotRefundable(Conflict):
    code = "payment_not_refundable"
    detail = _("Only a succeeded payment can be refunded, once.")


class PayoutNotDue(Conflict):
    code = "payout_not_due"
    detail = _("This payment has no payout waiting to be made.")


class PaymentProviderUnavailable(ServiceUnavailable):
    code = "payment_provider_unavailable"
    detail = _("The payment provider could not be reached or refused the request; "
               "nothing changed.")


class DemoPaymentsRefused(ServiceUnavailable):
    code = "demo_payments_refused"
    detail = _("The demo payment provider credits wallets without money and works only with "
               "DEBUG on; this deployment must use PAYMENT_PROVIDER=stripe or manual.")


class NotificationNotSupported(DomainError):
    code = "notification_not_supported"
    detail = _("This payment provider sends no notifications.")


class InvalidWebhookSignature(DomainError):
    code = "invalid_signature"
    detail = _("The webhook's signature does not match this endpoint's secret, or it is older "
               "than the replay window.")


# --- Gates (ticketing/services/gates.py) ----------------------------------------------


class GateNotFound(NotFound):
    code = "gate_not_found"
    detail = _("This event has no gate of that name.")


class GateNameTaken(Conflict):
    code = "gate_name_taken"
    detail = _("This event already has a gate of that name.")


class UnknownSections(DomainError):
    code = "unknown_sections"
    detail = _("Some sections are not at this event's venue.")


class ScanConflictNotFound(NotFound):
    code = "scan_conflict_not_found"
    detail = _("No such scan conflict.")


class WaitingListSeatsAvailable(Conflict):
    code = "seats_available"
    detail = _("There are free seats for this event: hold them instead of waiting.")


class WaitingListMailboxTaken(Conflict):
    code = "waiting_list_mailbox_taken"
    detail = _("Another account with this mailbox is already on this event's waiting list.")


class WaitingListEmailNotVerified(DomainError):
    code = "email_not_verified"
    detail = _("Confirm your email address first: a waiting list keeps one place per "
               "mailbox, and only a confirmed address shows the mailbox is yours.")
    status_code = status.HTTP_403_FORBIDDEN


class NotOnWaitingList(NotFound):
    code = "not_on_waiting_list"
    detail = _("You are not on this event's waiting list.")
