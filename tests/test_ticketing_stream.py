"""The seat stream: one delta per hold, and deltas applied to a snapshot equal a fresh snapshot."""

from __future__ import annotations

import contextlib
import time

from core import streams
from core.streams import Viewer, stream_kind
from tests.ticketing_helpers import (
    assert_deltas_match_fresh_snapshot,
    committed,
    fund,
    seats,
)
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
    messages = assert_deltas_match_fresh_snapshot(
        sale, lambda: hold_create(event=sale, user=user, seat_ids=wanted)
    )
    assert kinds(messages) == [("seat.held", sorted(wanted))]
    assert messages[0]["stream"] == f"seats:{sale.pk}"


def test_a_refused_hold_publishes_nothing(user, other_user, sale):
    taken = seats(sale, "A", "1", 3)
    committed(hold_create, event=sale, user=other_user, seat_ids=taken)

    def refused():
        with contextlib.suppress(SeatsUnavailable):
            hold_create(event=sale, user=user, seat_ids=taken + seats(sale, "A", "1", 4))

    assert assert_deltas_match_fresh_snapshot(sale, refused) == []


def test_release_publishes_seat_released(user, sale):
    held = committed(hold_create, event=sale, user=user, seat_ids=seats(sale, "B", "2", 1, 2))
    messages = assert_deltas_match_fresh_snapshot(
        sale, lambda: hold_release(token=held.token, user=user)
    )
    assert kinds(messages) == [("seat.released", held.seat_ids)]


def test_purchase_publishes_seat_sold(user, sale):
    fund(user)
    held = committed(hold_create_best_available, event=sale, user=user, count=2)
    messages = assert_deltas_match_fresh_snapshot(
        sale, lambda: hold_purchase(token=held.token, user=user)
    )
    assert kinds(messages) == [("seat.sold", held.seat_ids)]


def test_refund_publishes_seat_released(user, sale):
    fund(user)
    held = committed(hold_create, event=sale, user=user, seat_ids=seats(sale, "A", "2", 1))
    order = committed(hold_purchase, token=held.token, user=user)
    ticket = order.tickets.get()
    messages = assert_deltas_match_fresh_snapshot(
        sale, lambda: ticket_cancel(ticket_id=ticket.pk, user=user)
    )
    assert kinds(messages) == [("seat.released", [ticket.seat_id])]
    assert messages[0]["data"]["status"] == "free"


def test_expiry_publishes_seat_expired(user, sale, settings):
    settings.TICKETING_HOLD_TTL_SECONDS = 0.2
    held = committed(hold_create, event=sale, user=user, seat_ids=seats(sale, "A", "3", 7, 8))
    time.sleep(0.25)
    messages = assert_deltas_match_fresh_snapshot(sale, holds_expire)
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

    messages = assert_deltas_match_fresh_snapshot(sale, story)
    assert [m["type"] for m in messages] == [
        "seat.held", "seat.held", "seat.released", "seat.sold", "seat.released",
    ]
    assert streams.last_seq(f"seats:{sale.pk}") == messages[-1]["seq"]
