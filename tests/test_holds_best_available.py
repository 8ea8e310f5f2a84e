"""Best available: adjacent seats in one row, closest to the front, no stranded single seat."""

from __future__ import annotations

import pytest

from tests.ticketing_helpers import hold, seat, seats
from ticketing.best_available import RowSeat, SeatRow, pick_best_available

pytest_plugins = ["tests.ticketing_fixtures"]


def row(rank: int, pattern: str) -> SeatRow:
    """'..x..' -> seats numbered 1.. with x taken; seat ids are rank*100 + number."""
    return SeatRow(
        rank=(rank,),
        seats=[RowSeat(rank * 100 + n, n, ch == ".") for n, ch in enumerate(pattern, start=1)],
    )


def test_picks_the_front_row_when_it_fits():
    assert pick_best_available([row(2, "......"), row(1, "......")], 2) == [103, 104]


def test_picks_seats_side_by_side_or_nothing_in_that_row():
    # Row 1 has three free seats but never two adjacent.
    assert pick_best_available([row(1, ".x.x.x"), row(2, "xx..xx")], 2) == [203, 204]


def test_does_not_strand_a_single_seat_when_another_choice_exists():
    # Row 1: taking 2 of the 3 free seats would strand the third.
    assert pick_best_available([row(1, "x...xx"), row(2, "......")], 2) == [203, 204]


def test_takes_a_gap_exactly_instead_of_stranding():
    assert pick_best_available([row(1, "x..x...x")], 2) == [102, 103]


def test_strands_a_seat_only_when_nothing_else_fits():
    assert pick_best_available([row(1, "x...x"), row(2, "x.x.x")], 2) == [102, 103]


def test_answers_none_when_no_row_has_enough_adjacent_seats():
    assert pick_best_available([row(1, ".x.x."), row(2, "x.x..")], 3) is None


def test_prefers_the_centre_of_the_row():
    assert pick_best_available([row(1, "........")], 2) == [104, 105]


def test_best_available_over_the_api_holds_the_front_row_centre(user_api, sale):
    response = user_api.post(
        f"/api/events/{sale.pk}/holds/", {"best_available": {"count": 2}}, format="json"
    )
    assert response.status_code == 201, response.json()
    # Row "1" of sections A (10 seats) and B (6 seats) are both front rows; A comes first.
    assert response.json()["seats"] == sorted(seats(sale, "A", "1", 5, 6))


def test_best_available_avoids_stranding_next_to_existing_holds(user_api, other_api, sale,
                                                                settings):
    settings.TICKETING_MAX_HELD_SEATS_PER_USER = 10  # one other buyer stands for many
    # Leave A row 1 with free seats 1-3 and B row 1 with 1-3 free: taking 2 would strand one.
    hold(other_api, sale, seats(sale, "A", "1", 4, 5, 6))
    hold(other_api, sale, seats(sale, "A", "1", 7, 8, 9, 10))
    hold(other_api, sale, seats(sale, "B", "1", 4, 5, 6))
    response = user_api.post(
        f"/api/events/{sale.pk}/holds/", {"best_available": {"count": 2}}, format="json"
    )
    assert response.status_code == 201
    assert response.json()["seats"] == sorted(seats(sale, "A", "2", 5, 6))


def test_best_available_in_one_section(user_api, sale):
    section_b = seat(sale, "B", "1", 1)
    from ticketing.models import Seat

    section_id = Seat.objects.get(pk=section_b).row.section_id
    response = user_api.post(
        f"/api/events/{sale.pk}/holds/",
        {"best_available": {"count": 3, "section": section_id}},
        format="json",
    )
    assert response.status_code == 201
    # 1-3 and 4-6 strand nothing and are equally central: the leftmost wins.
    assert response.json()["seats"] == sorted(seats(sale, "B", "1", 1, 2, 3))


def test_best_available_answers_409_when_no_row_fits(user_api, sale):
    from ticketing.models import EventSale

    EventSale.objects.filter(event=sale).update(max_seats_per_order=20)
    response = user_api.post(
        f"/api/events/{sale.pk}/holds/", {"best_available": {"count": 11}}, format="json"
    )
    assert response.status_code == 409
    assert response.json()["code"] == "not_enough_adjacent_seats"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"count": 7}, 400, "too_many_seats"),
        ({"count": 1, "section": 999999}, 404, "section_not_found"),
    ],
)
def test_best_available_rejects_bad_requests(user_api, sale, body, status, code):
    response = user_api.post(
        f"/api/events/{sale.pk}/holds/", {"best_available": body}, format="json"
    )
    assert response.status_code == status
    assert response.json()["code"] == code
