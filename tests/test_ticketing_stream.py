"""The seat stream: one delta per hold, and deltas applied to a snapshot equal a fresh
snapshot (verify_action with the seats kind's own reducer)."""

from __future__ import annotations

import contextlib
import time

import pytest

from core import streams
from core.errors import UnknownMessageType
from core.streams import Viewer, stream_kind
from tests.stream_helpers import verify_action
from tests.ticketing_helpers import committed, fund, seats
from ticketing.errors import SeatsUnavailable
from ticketing.services.holds import (
    hold_create,
    hold_create_best_available,
    hold_release,
    holds_expire,
)
from ticketing.services.orders import hold_purchase, ticket_cancel

pytest_plugins = ["tests.ticketing_fixtures"]


def kinds(messages):
    return [(m["type"], m["data"]["seats"]) for m in messages]


def test_seats_stream_kind_is_registered_with_the_seat_map_snapshot(user, sale):
    snapshot = stream_kind("seats").snapshot(sale.pk, Viewer(user=user))
    assert snapshot["event_id"] == sale.pk
    assert len(snapshot["seats"]) == 42
    assert stream_kind("seats").snapshot(987654, Viewer(user=user)) is None


def test_a_hold_publishes_one_seat_held_message_listing_its_seats(user, sale):
    wanted = seats(sale, "A", "1", 3, 4, 5)
    messages = verify_action(
        kind="seats", object_id=sale.pk,
        action=lambda: hold_create(event=sale, user=user, seat_ids=wanted))
    assert kinds(messages) == [("seat.held", sorted(wanted))]
    assert messages[0]["stream"] == f"seats:{sale.pk}"


def test_a_refused_hold_publishes_nothing(user, other_user, sale):
    taken = seats(sale, "A", "1", 3)
    committed(hold_create, event=sale, user=other_user, seat_ids=taken)

    def refused():
        with contextlib.suppress(SeatsUnavailable):
            hold_create(event=sale, user=user, seat_ids=taken + seats(sale, "A", "1", 4))

    assert verify_action(kind="seats", object_id=sale.pk, action=refused) == []


def test_release_publishes_seat_released(user, sale):
    held = committed(hold_create, event=sale, user=user, seat_ids=seats(sale, "B", "2", 1, 2))
    messages = verify_action(
        kind="seats", object_id=sale.pk, action=lambda: hold_release(token=held.token, user=user))
    assert kinds(messages) == [("seat.released", held.seat_ids)]


def test_purchase_publishes_seat_sold(user, sale):
    fund(user)
    held = committed(hold_create_best_available, event=sale, user=user, count=2)
    messages = verify_action(
        kind="seats", object_id=sale.pk, action=lambda: hold_purchase(token=held.token, user=user))
    assert kinds(messages) == [("seat.sold", held.seat_ids)]


def test_refund_publishes_seat_released(user, sale):
    fund(user)
    held = committed(hold_create, event=sale, user=user, seat_ids=seats(sale, "A", "2", 1))
    order = committed(hold_purchase, token=held.token, user=user)
    ticket = order.tickets.get()
    messages = verify_action(
        kind="seats", object_id=sale.pk,
        action=lambda: ticket_cancel(ticket_id=ticket.pk, user=user))
    assert kinds(messages) == [("seat.released", [ticket.seat_id])]
    assert messages[0]["data"]["status"] == "free"


def test_expiry_publishes_seat_expired(user, sale, settings):
    settings.TICKETING_HOLD_TTL_SECONDS = 0.2
    held = committed(hold_create, event=sale, user=user, seat_ids=seats(sale, "A", "3", 7, 8))
    time.sleep(0.25)
    messages = verify_action(kind="seats", object_id=sale.pk, action=holds_expire)
    assert kinds(messages) == [("seat.expired", held.seat_ids)]


def test_a_sequence_of_changes_replays_onto_the_first_snapshot(user, other_user, sale):
    fund(user)
    fund(other_user)

    def story():
        first = hold_create(event=sale, user=user, seat_ids=seats(sale, "A", "1", 1, 2))
        second = hold_create_best_available(event=sale, user=other_user, count=3)
        hold_release(token=first.token, user=user)
        order = hold_purchase(token=second.token, user=other_user)
        ticket_cancel(ticket_id=order.tickets.first().pk, user=other_user)

    messages = verify_action(kind="seats", object_id=sale.pk, action=story)
    assert [m["type"] for m in messages] == [
        "seat.held", "seat.held", "seat.released", "seat.sold", "seat.released",
    ]
    assert streams.last_seq(f"seats:{sale.pk}") == messages[-1]["seq"]


def test_the_seat_reducer_raises_on_a_message_type_the_kind_does_not_publish():
    snapshot = {"event_id": 1, "seq": 0, "seats": [{"id": 5, "status": "free"}]}
    message = {"stream": "seats:1", "seq": 1, "type": "seat.blocked",
               "data": {"seats": [5], "status": "blocked"}, "ts": 0.0}
    with pytest.raises(UnknownMessageType):
        stream_kind("seats").apply(snapshot, message)


def test_the_seat_reducer_refuses_a_status_its_type_does_not_say():
    snapshot = {"event_id": 1, "seq": 0, "seats": [{"id": 5, "status": "free"}]}
    message = {"stream": "seats:1", "seq": 1, "type": "seat.held",
               "data": {"seats": [5], "status": "sold"}, "ts": 0.0}
    with pytest.raises(ValueError, match="status"):
        stream_kind("seats").apply(snapshot, message)
