"""Ticketing's domain errors: each answer a client can act on has its own code."""

from __future__ import annotations

from rest_framework import status

from core.errors import Conflict, DomainError, NotFound, ServiceUnavailable


class ListsSeats:
    """Mixin: the error body names the seats concerned, as {"seats": [ids]}."""

    def __init__(self, seat_ids: list[int], detail: str | None = None) -> None:
        super().__init__(detail, extra={"seats": sorted(seat_ids)})


class SeatsUnavailable(ListsSeats, Conflict):
    code = "seats_unavailable"
    detail = "Some of the requested seats are not free."


class NotEnoughAdjacentSeats(Conflict):
    code = "not_enough_adjacent_seats"
    detail = "No row has that many free seats side by side."


class UnknownSeats(ListsSeats, DomainError):
    code = "unknown_seats"
    detail = "Some seats do not exist at this event's venue."


class SeatsNotForSale(ListsSeats, Conflict):
    code = "seats_not_for_sale"
    detail = "Some seats are blocked or have no price for this event."


class TooManySeats(DomainError):
    code = "too_many_seats"
    detail = "More seats than one order may have."


class SaleClosed(Conflict):
    code = "sale_closed"
    detail = "Seats for this event are not on sale now."


class HoldLimitReached(Conflict):
    code = "hold_limit_reached"
    detail = "You already hold as many seats for this event as one account may."

    def __init__(self, *, held: int, limit: int) -> None:
        super().__init__(
            f"You hold {held} seat(s) for this event; one account may hold at most {limit} "
            "at once. Buy or release some first.",
            extra={"held": held, "limit": limit},
        )


class PriceChanged(Conflict):
    code = "price_changed"
    detail = "The price changed since the seats were held; nothing was charged."

    def __init__(self, *, old_total: int | None, new_total: int) -> None:
        super().__init__(
            f"The seats now cost {new_total} in total instead of {old_total}; nothing was "
            "charged. Buy again with expected_total set to the new total to accept it.",
            extra={"old_total": old_total, "new_total": new_total},
        )


class VenueDoubleBooked(Conflict):
    code = "venue_double_booked"
    detail = "Another event at this venue is on sale at an overlapping time."

    def __init__(self, other) -> None:
        super().__init__(
            f"\"{other.title}\" (event {other.pk}) is on sale at this venue at an overlapping "
            "time; one venue sells one event's seats at a time.",
            extra={"event": {"id": other.pk, "title": other.title,
                             "starts_at": other.starts_at.isoformat(),
                             "ends_at": other.ends_at and other.ends_at.isoformat()}},
        )


class HoldNotFound(NotFound):
    code = "hold_not_found"
    detail = "No such hold."


class HoldExpired(DomainError):
    code = "hold_expired"
    detail = "The hold has expired; its seats are free again."
    status_code = status.HTTP_410_GONE


class HoldAlreadyPurchased(Conflict):
    code = "hold_already_purchased"
    detail = "This hold has already been turned into an order."


class HoldLost(ListsSeats, Conflict):
    code = "hold_lost"
    detail = "The hold no longer owns all its seats; nothing was charged."


class HoldLifetimeExceeded(Conflict):
    code = "hold_lifetime_exceeded"
    detail = "The hold cannot be extended any further."


class InsufficientFunds(DomainError):
    code = "insufficient_funds"
    detail = "The wallet balance is too low for this purchase."
    status_code = status.HTTP_402_PAYMENT_REQUIRED


class SeatAlreadySold(Conflict):
    code = "seat_already_sold"
    detail = "A seat of this hold was sold meanwhile; nothing was charged."


class TicketNotFound(NotFound):
    code = "ticket_not_found"
    detail = "No such ticket."


class TicketNotRefundable(Conflict):
    code = "ticket_not_refundable"
    detail = "This ticket can no longer be cancelled."


class LayoutRemovesSoldSeat(ListsSeats, Conflict):
    code = "layout_removes_sold_seat"
    detail = "The new layout would remove seats that have tickets."


class EventHasNoVenue(Conflict):
    code = "event_has_no_venue"
    detail = "This event has no venue, so it has no seats."


class SeatLocksUnavailable(ServiceUnavailable):
    code = "seat_locks_unavailable"
    detail = "Seat holds are unavailable right now; try again shortly."


class SeatLocksBusy(ServiceUnavailable):
    code = "busy"
    detail = "These seats or this wallet are being changed by another request; try again shortly."


# --- Idempotency keys (ticketing/idempotency.py) -----------------------------------


class IdempotencyKeyReused(DomainError):
    code = "idempotency_key_reused"
    detail = "This Idempotency-Key was used with a different request."
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY


class IdempotentRequestInProgress(Conflict):
    code = "idempotency_request_in_progress"
    detail = "A request with this Idempotency-Key is still being processed; retry shortly."


class InvalidIdempotencyKey(DomainError):
    code = "invalid_idempotency_key"
    # ticketing/idempotency.py raises it naming its MAX_KEY_LENGTH.
    detail = "The Idempotency-Key header is empty or too long."


# --- The waiting room (ticketing/services/waiting_room.py) ---------------------------


def queue_links(event_id: int) -> dict[str, str]:
    """Where a buyer joins the line of an event, and where its place streams."""
    return {"join": f"/api/events/{event_id}/queue/", "stream": f"/ws/events/{event_id}/queue/"}


class QueueRequired(DomainError):
    """403: the event's waiting room is on and this request has no valid admission pass."""

    code = "queue_required"
    status_code = status.HTTP_403_FORBIDDEN
    REASONS = {
        "missing": "This sale has a waiting room: join the line and use the admission pass "
                   "you get at the front (the Queue-Pass header).",
        "invalid": "The admission pass is not valid for this account and event.",
        "expired": "Your admission pass has expired; join the line again.",
        "stale": "This admission pass was replaced by a newer one; use the newest.",
        "none": "You have no admission pass for this event; join the line.",
    }

    def __init__(self, *, event_id: int, reason: str) -> None:
        super().__init__(self.REASONS[reason],
                         extra={"reason": reason, "queue": queue_links(event_id)})


class QueueNotFound(NotFound):
    code = "queue_not_found"
    detail = "This event has no waiting room."


class QueueNotOpen(Conflict):
    code = "queue_not_open"

    def __init__(self, *, opens_at: str) -> None:
        super().__init__(f"The waiting room opens at {opens_at}.", extra={"opens_at": opens_at})


class QueueClosed(Conflict):
    code = "queue_closed"
    detail = "The waiting room is closed: the sale is open to everyone, no pass needed."


class QueueMailboxTaken(Conflict):
    code = "queue_mailbox_taken"
    detail = ("Another account with the same mailbox already has a place in this line; "
              "one place per person.")



# --- Payments (ticketing/services/payments.py, ticketing/payments/) ------------------


class InvalidTopUpAmount(DomainError):
    code = "invalid_amount"

    def __init__(self, *, limit: int) -> None:
        super().__init__(f"A top-up is between 1 and {limit} minor units.",
                         extra={"limit": limit})


class TopUpDailyLimitReached(Conflict):
    code = "top_up_limit_reached"

    def __init__(self, *, limit: int, used: int) -> None:
        super().__init__(
            f"Top-ups started in the last 24 hours add up to {used}; one account may top up "
            f"at most {limit} a day. Try a smaller amount or later.",
            extra={"limit": limit, "used": used},
        )


class PaymentNotFound(NotFound):
    code = "payment_not_found"
    detail = "No such payment."


class PaymentNotPending(Conflict):
    code = "payment_not_pending"
    detail = "This payment is no longer waiting for its money."


class PaymentNotManual(Conflict):
    code = "payment_not_manual"
    detail = "Only bank transfers are confirmed by staff; card payments confirm themselves."


class PaymentNotRefundable(Conflict):
    code = "payment_not_refundable"
    detail = "Only a succeeded payment can be refunded, once."


class PayoutNotDue(Conflict):
    code = "payout_not_due"
    detail = "This payment has no payout waiting to be made."


class PaymentProviderUnavailable(ServiceUnavailable):
    code = "payment_provider_unavailable"
    detail = "The payment provider could not be reached or refused the request; nothing changed."


class DemoPaymentsRefused(ServiceUnavailable):
    code = "demo_payments_refused"
    detail = ("The demo payment provider credits wallets without money and works only with "
              "DEBUG on; this deployment must use PAYMENT_PROVIDER=stripe or manual.")


class NotificationNotSupported(DomainError):
    code = "notification_not_supported"
    detail = "This payment provider sends no notifications."


class InvalidWebhookSignature(DomainError):
    code = "invalid_signature"
    detail = ("The webhook's signature does not match this endpoint's secret, or it is older "
              "than the replay window.")
