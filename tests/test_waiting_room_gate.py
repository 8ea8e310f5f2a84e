"""While an event's waiting room is on, every way of holding seats needs the buyer's pass.

Found by bench/waiting_room.py: a hold of chosen seats (`seat_ids`) went through without
a Queue-Pass (only best available checked it), so anyone could skip the line and block
seats; only the purchase asked for the pass.
"""

from __future__ import annotations

import time

import pytest

from tests.conftest import assert_error
from tests.ticketing_helpers import committed, hold, seats, statuses
from ticketing.queue_line import _memory
from ticketing.services.waiting_room import waiting_room_configure, waiting_rooms_admit

pytest_plugins = ["tests.ticketing_fixtures"]


@pytest.fixture
def room(sale):
    _memory.reset()  # the embedded line lives in process memory: no line of another test
    room = committed(waiting_room_configure, event=sale, actor=None, rate_per_minute=60_000)
    yield room
    _memory.reset()


def admission_pass(api, event) -> str:
    """Join the line, let the scheduler admit, and read the pass from the place."""
    assert api.post(f"/api/events/{event.pk}/queue/").status_code == 201
    for _ in range(50):  # the allowance grows with time (rate x elapsed)
        waiting_rooms_admit()
        admission = api.get(f"/api/events/{event.pk}/queue/").json()["admission"]
        if admission is not None:
            return admission["token"]
        time.sleep(0.01)
    raise AssertionError("never admitted")


def hold_with(api, event, seat_ids, queue_pass):
    return api.post(f"/api/events/{event.pk}/holds/", {"seat_ids": seat_ids}, format="json",
                    HTTP_QUEUE_PASS=queue_pass)


def test_hold_of_chosen_seats_needs_a_pass_while_the_room_is_on(user_api, sale, room):
    wanted = seats(sale, "A", "1", 4, 5)
    body = assert_error(hold(user_api, sale, wanted), 403, "queue_required")
    assert body["reason"] == "missing"
    assert {statuses(sale)[s] for s in wanted} == {"free"}


def test_hold_of_chosen_seats_with_the_buyers_own_pass_is_granted(user_api, sale, room):
    queue_pass = admission_pass(user_api, sale)
    response = hold_with(user_api, sale, seats(sale, "A", "1", 4, 5), queue_pass)
    assert response.status_code == 201, response.json()


def test_another_buyers_pass_does_not_hold_chosen_seats(user_api, other_api, sale, room):
    queue_pass = admission_pass(other_api, sale)
    wanted = seats(sale, "A", "1", 4)
    assert_error(hold_with(user_api, sale, wanted, queue_pass), 403, "queue_required")
    assert statuses(sale)[wanted[0]] == "free"


def test_a_room_created_faster_than_the_default_ceiling_raises_its_ceiling(sale):
    # The ceiling was raised after the INSERT, which the check constraint had refused.
    room = committed(waiting_room_configure, event=sale, actor=None, rate_per_minute=60_000)
    room.refresh_from_db()
    assert (room.rate_per_minute, room.max_rate_per_minute) == (60_000, 60_000)
    _memory.reset()
