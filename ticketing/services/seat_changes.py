"""Record and announce seat status changes.

One history row per seat; one stream message per hold (listing its seats).
"""

from __future__ import annotations

from core.streams import publish_on_commit
from ticketing.models import Order, SeatHold, SeatStatusChange
from ticketing.streams import seats_changed_data, seats_stream

Status = SeatStatusChange.Status
FREE, HELD, SOLD = Status.FREE, Status.HELD, Status.SOLD

# reason -> (from, to, stream message type)
TRANSITIONS = {
    "held": (FREE, HELD, "seat.held"),
    "released": (HELD, FREE, "seat.released"),
    "expired": (HELD, FREE, "seat.expired"),
    "sold": (HELD, SOLD, "seat.sold"),
    "refunded": (SOLD, FREE, "seat.released"),
}


def seat_changes_record(
    *,
    event_id: int,
    seat_ids: list[int],
    reason: str,
    user_id: int | None,
    hold: SeatHold | None = None,
    order: Order | None = None,
) -> None:
    """Write the history rows and publish one delta after commit (nothing when no seats);
    seats free again go to the event's waiting list, if anyone waits."""
    if not seat_ids:
        return
    from_status, to_status, message_type = TRANSITIONS[reason]
    SeatStatusChange.objects.bulk_create(
        SeatStatusChange(
            event_id=event_id,
            seat_id=seat_id,
            from_status=from_status,
            to_status=to_status,
            reason=reason,
            hold=hold,
            order=order,
            user_id=user_id,
        )
        for seat_id in seat_ids
    )
    publish_on_commit(
        seats_stream(event_id), message_type, seats_changed_data(message_type, seat_ids)
    )
    if to_status == FREE:
        # Imported here: the waiting list's offers are holds (holds.py imports this module).
        from ticketing.services.waiting_list import waiting_list_seats_returned

        waiting_list_seats_returned(event_id=event_id, seat_ids=seat_ids, reason=reason)
