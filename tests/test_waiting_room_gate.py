"""The waiting room's gate on the sale: while a room is on, every way of holding seats
needs an admission pass (ticketing/services/waiting_room.py, queue_pass_require)."""

from __future__ import annotations

import time

import pytest

from tests.conftest import assert_error
from tests.ticketing_helpers import committed, hold, seats
from ticketing.models import SeatHold
from ticketing.queue_line import queue_line
from ticketing.services.waiting_room import (
    admission_body,
    queue_join,
    waiting_room_configure,
    waiting_room_set_status,
    waiting_rooms_admit,
)

pytest_plugins = ["tests.ticketing_fixtures"]



@pytest.fixture
def room(sale, staff):
    return committed(waiting_room_configure, event=sale, actor=staff, rate_per_minute=6000)


def admitted_pass(event, user) -> str:
    """Join the line, let the admission job run, and return the buyer's pass."""
    queue_join(event_id=event.pk, user=user)
    queue_line().admit(event.pk, max_batch=10)  # the first tick starts the allowance at 0
    for _ in range(50):
        if waiting_rooms_admit() or queue_line().place(event.pk, user.pk).state == "admitted":
            break
        time.sleep(0.02)
    body = admission_body(event.pk, queue_line().place(event.pk, user.pk), user=user)
    assert body is not None, "the buyer was not admitted"
    return body["token"]


def test_holding_chosen_seats_without_a_pass_answers_queue_required(room, user_api, sale):
    response = hold(user_api, sale, seats(sale, "A", "1", 1, 2))
    body = assert_error(response, 403, "queue_required")
    assert body["reason"] == "missing"
    assert body["queue"] == {"join": f"/api/events/{sale.pk}/queue/",
                             "stream": f"/ws/events/{sale.pk}/queue/"}
    assert not SeatHold.objects.exists()


def test_holding_best_available_without_a_pass_answers_queue_required(room, user_api, sale):
    response = user_api.post(f"/api/events/{sale.pk}/holds/",
                             {"best_available": {"count": 2}}, format="json")
    assert_error(response, 403, "queue_required")


def test_holding_chosen_seats_with_the_buyers_pass_works(room, user_api, user, sale):
    token = admitted_pass(sale, user)
    response = user_api.post(f"/api/events/{sale.pk}/holds/",
                             {"seat_ids": seats(sale, "A", "1", 1, 2)}, format="json",
                             HTTP_QUEUE_PASS=token)
    assert response.status_code == 201, response.json()
    assert queue_line().place(sale.pk, user.pk).state == "in_use"


def test_holding_chosen_seats_needs_no_pass_once_the_room_is_closed(room, user_api, sale, staff):
    committed(waiting_room_set_status, room=room, status="closed", actor=staff)
    assert hold(user_api, sale, seats(sale, "A", "1", 1)).status_code == 201


def test_a_room_created_faster_than_the_default_ceiling_raises_its_ceiling(sale):
    # Found by bench/waiting_room.py: the ceiling was raised after the INSERT, which the
    # row's check constraint (max_rate_per_minute >= rate_per_minute) had refused.
    from ticketing.services.waiting_room import waiting_room_configure

    room = committed(waiting_room_configure, event=sale, actor=None, rate_per_minute=60_000)
    room.refresh_from_db()
    assert (room.rate_per_minute, room.max_rate_per_minute) == (60_000, 60_000)
