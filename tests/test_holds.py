"""Seat holds over the API, on both backends: create, read, extend, release, expire."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.ticketing_helpers import committed, hold, make_event, seat, seats, statuses
from ticketing.models import HeldSeat, SeatHold, SeatStatusChange
from ticketing.services.holds import holds_expire

pytest_plugins = ["tests.ticketing_fixtures"]


def test_hold_answers_201_with_token_seats_and_expiry(user_api, user, sale):
    wanted = seats(sale, "A", "1", 4, 5)
    response = hold(user_api, sale, wanted)
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["seats"] == sorted(wanted)
    assert body["status"] == "active"
    assert 890 <= body["expires_in_seconds"] <= 900
    assert len(body["token"]) >= 20
    assert SeatHold.objects.get(token=body["token"]).user == user
    assert {statuses(sale)[s] for s in wanted} == {"held"}


def test_hold_is_all_or_nothing_when_any_seat_is_taken(user_api, other_api, sale):
    taken = seat(sale, "A", "1", 5)
    assert hold(other_api, sale, [taken]).status_code == 201
    wanted = seats(sale, "A", "1", 4, 5, 6)
    response = hold(user_api, sale, wanted)
    assert response.status_code == 409
    assert response.json()["code"] == "seats_unavailable"
    assert response.json()["seats"] == [taken]
    assert statuses(sale)[wanted[0]] == "free" and statuses(sale)[wanted[2]] == "free"
    assert SeatHold.objects.count() == 1


def test_hold_refuses_a_sold_seat(user_api, other_user, sale):
    from tests.ticketing_helpers import fund
    from ticketing.services.holds import hold_create
    from ticketing.services.orders import hold_purchase

    fund(other_user)
    sold = seat(sale, "B", "1", 1)
    taken = hold_create(event=sale, user=other_user, seat_ids=[sold])
    committed(hold_purchase, token=taken.token, user=other_user)
    response = hold(user_api, sale, [sold])
    assert response.status_code == 409
    assert response.json()["seats"] == [sold]


def test_hold_refuses_seats_of_another_venue(user_api, sale):
    from core.models import Venue
    from ticketing.services.layout import venue_layout_set

    elsewhere = Venue.objects.create(name="Gym")
    venue_layout_set(
        venue=elsewhere, sections=[{"name": "X", "rows": [{"label": "1", "seats": 2}]}]
    )
    foreign = seat(elsewhere, "X", "1", 1)
    response = hold(user_api, sale, [foreign, 999_999])
    assert response.status_code == 400
    assert response.json()["code"] == "unknown_seats"
    assert response.json()["seats"] == sorted([foreign, 999_999])


def test_hold_refuses_blocked_and_unpriced_seats(user_api, sale, venue):
    from ticketing.models import Seat, SectionPrice

    blocked = seat(sale, "A", "2", 1)
    Seat.objects.filter(pk=blocked).update(blocked=True)
    SectionPrice.objects.filter(event=sale, section__name="B").delete()
    unpriced = seat(sale, "B", "1", 1)
    response = hold(user_api, sale, [blocked, unpriced])
    assert response.status_code == 409
    assert response.json()["code"] == "seats_not_for_sale"
    assert statuses(sale)[blocked] == "blocked" and statuses(sale)[unpriced] == "blocked"


def test_hold_refuses_more_seats_than_an_order_may_have(user_api, sale):
    response = hold(user_api, sale, seats(sale, "A", "3", *range(1, 8)))
    assert response.status_code == 400
    assert response.json()["code"] == "too_many_seats"
    assert not SeatHold.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"seat_ids": []},
        {"seat_ids": "1,2"},
        {"seat_ids": [1, 1]},
        {"seat_ids": [1], "best_available": {"count": 1}},
        {"best_available": {"count": 0}},
        {"best_available": {}},
    ],
)
def test_hold_rejects_malformed_input(user_api, sale, body):
    response = user_api.post(f"/api/events/{sale.pk}/holds/", body, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert not SeatHold.objects.exists()


def test_hold_needs_login(api, sale):
    response = hold(api, sale, seats(sale, "A", "1", 1))
    assert response.status_code == 401


def test_hold_on_unknown_event_is_404(user_api, sale):
    response = user_api.post("/api/events/999999/holds/", {"seat_ids": [1]}, format="json")
    assert response.status_code == 404
    assert response.json()["code"] == "event_not_found"


@pytest.mark.parametrize(
    "window",
    [
        {"sale_starts_at": timezone.now() + timedelta(days=1)},
        {"sale_ends_at": timezone.now() - timedelta(minutes=1),
         "sale_starts_at": timezone.now() - timedelta(days=1)},
    ],
    ids=["not-started", "ended"],
)
def test_hold_is_refused_outside_the_sale_window(user_api, backend, venue, window):
    event = make_event(venue, **window)
    response = hold(user_api, event, seats(event, "A", "1", 1))
    assert response.status_code == 409
    assert response.json()["code"] == "sale_closed"


def test_hold_is_refused_once_the_event_started(user_api, backend, venue):
    event = make_event(venue)
    event.starts_at = timezone.now() - timedelta(minutes=5)
    event.save()
    response = hold(user_api, event, seats(event, "A", "1", 1))
    assert response.status_code == 409
    assert response.json()["code"] == "sale_closed"


def test_owner_reads_the_hold_and_others_get_404(user_api, other_api, sale):
    token = hold(user_api, sale, seats(sale, "A", "1", 1)).json()["token"]
    mine = user_api.get(f"/api/holds/{token}/")
    assert mine.status_code == 200 and mine.json()["token"] == token
    theirs = other_api.get(f"/api/holds/{token}")
    assert theirs.status_code == 404
    assert theirs.json()["code"] == "hold_not_found"


def test_extend_gives_a_fresh_ttl_capped_at_the_maximum_lifetime(user_api, sale, settings):
    settings.TICKETING_HOLD_TTL_SECONDS = 600
    settings.TICKETING_HOLD_MAX_LIFETIME_SECONDS = 900
    token = hold(user_api, sale, seats(sale, "A", "1", 1)).json()["token"]
    SeatHold.objects.filter(token=token).update(
        created_at=timezone.now() - timedelta(seconds=400),
        expires_at=timezone.now() + timedelta(seconds=200),
    )
    response = user_api.patch(f"/api/holds/{token}/")
    assert response.status_code == 200, response.json()
    # created 400 s ago with a 900 s cap: 500 s left, less than a fresh 600 s TTL.
    assert 495 <= response.json()["expires_in_seconds"] <= 500
    again = user_api.patch(f"/api/holds/{token}/")
    assert again.status_code == 409
    assert again.json()["code"] == "hold_lifetime_exceeded"


def test_extend_keeps_the_seats_held_past_the_old_expiry(user_api, sale, settings):
    settings.TICKETING_HOLD_TTL_SECONDS = 0.3
    wanted = seats(sale, "A", "1", 1)
    token = hold(user_api, sale, wanted).json()["token"]
    settings.TICKETING_HOLD_TTL_SECONDS = 60
    assert user_api.patch(f"/api/holds/{token}/").status_code == 200
    time.sleep(0.35)
    assert statuses(sale)[wanted[0]] == "held"


def test_extend_and_release_of_another_users_hold_are_404(user_api, other_api, sale):
    token = hold(user_api, sale, seats(sale, "A", "1", 1)).json()["token"]
    assert other_api.patch(f"/api/holds/{token}/").status_code == 404
    assert other_api.delete(f"/api/holds/{token}/").status_code == 404
    assert SeatHold.objects.get(token=token).status == "active"


def test_release_frees_the_seats_at_once(user_api, other_api, sale):
    wanted = seats(sale, "A", "1", 1, 2)
    token = hold(user_api, sale, wanted).json()["token"]
    response = user_api.delete(f"/api/holds/{token}/")
    assert response.status_code == 204
    assert {statuses(sale)[s] for s in wanted} == {"free"}
    assert hold(other_api, sale, wanted).status_code == 201
    assert user_api.get(f"/api/holds/{token}/").json()["status"] == "released"
    again = user_api.delete(f"/api/holds/{token}/")
    assert again.status_code == 410 and again.json()["code"] == "hold_expired"


def test_an_expired_hold_frees_its_seats_before_the_sweeper_runs(
    user_api, other_api, sale, settings
):
    settings.TICKETING_HOLD_TTL_SECONDS = 0.2
    wanted = seats(sale, "A", "1", 1, 2)
    token = hold(user_api, sale, wanted).json()["token"]
    time.sleep(0.25)
    assert {statuses(sale)[s] for s in wanted} == {"free"}
    assert user_api.get(f"/api/holds/{token}/").json()["status"] == "expired"
    assert user_api.patch(f"/api/holds/{token}/").json()["code"] == "hold_expired"
    settings.TICKETING_HOLD_TTL_SECONDS = 60
    assert hold(other_api, sale, wanted[:1]).status_code == 201


def test_sweeper_expires_holds_and_announces_only_seats_still_owned(
    user_api, other_api, sale, settings
):
    from core import streams

    settings.TICKETING_HOLD_TTL_SECONDS = 0.2
    first, second = seats(sale, "A", "1", 1, 2)
    hold(user_api, sale, [first, second])
    time.sleep(0.25)
    settings.TICKETING_HOLD_TTL_SECONDS = 60
    assert hold(other_api, sale, [second]).status_code == 201
    since = streams.last_seq(f"seats:{sale.pk}")
    assert committed(holds_expire) == 1
    messages = streams.history_since(f"seats:{sale.pk}", since).messages
    assert [(m["type"], m["data"]["seats"]) for m in messages] == [("seat.expired", [first])]
    assert statuses(sale)[first] == "free" and statuses(sale)[second] == "held"
    assert SeatHold.objects.filter(status="expired").count() == 1
    assert SeatStatusChange.objects.filter(reason="expired").count() == 1
    assert committed(holds_expire) == 0


def test_sweeper_skips_live_holds(user_api, sale):
    hold(user_api, sale, seats(sale, "A", "1", 1))
    assert holds_expire() == 0
    assert SeatHold.objects.get().status == "active"


def test_database_backend_keeps_one_live_hold_row_per_seat(user_api, sale, backend):
    hold(user_api, sale, seats(sale, "A", "1", 1, 2))
    expected = 2 if backend == "db" else 0
    assert HeldSeat.objects.count() == expected


def test_seat_history_records_hold_and_release(user_api, user, staff_api, sale):
    wanted = seat(sale, "A", "1", 3)
    token = hold(user_api, sale, [wanted]).json()["token"]
    user_api.delete(f"/api/holds/{token}/")
    response = staff_api.get(f"/api/events/{sale.pk}/seats/{wanted}/history/")
    assert response.status_code == 200
    rows = response.json()["results"]
    assert [(r["from_status"], r["to_status"], r["reason"]) for r in rows] == [
        ("held", "free", "released"),
        ("free", "held", "held"),
    ]
    assert rows[0]["user"] == user.email


def test_seat_history_is_staff_only(user_api, api, sale):
    wanted = seat(sale, "A", "1", 3)
    assert user_api.get(f"/api/events/{sale.pk}/seats/{wanted}/history/").status_code == 403
    assert api.get(f"/api/events/{sale.pk}/seats/{wanted}/history/").status_code == 401


def test_hold_answers_503_when_redis_is_unreachable(user_api, venue, settings):
    from tests.servers import free_port

    settings.TICKETING_HOLD_BACKEND = "redis"
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    event = make_event(venue)
    response = hold(user_api, event, seats(event, "A", "1", 1))
    assert response.status_code == 503
    assert response.json()["code"] == "seat_locks_unavailable"
    assert not SeatHold.objects.exists()
    assert not SeatStatusChange.objects.exists()


@pytest.mark.redis
def test_extend_answers_hold_lost_when_redis_lost_a_seat(user_api, venue, settings):
    from core.redis import get_redis
    from ticketing.errors import HoldLost
    from ticketing.seat_locks import RedisSeatLocks

    settings.TICKETING_HOLD_BACKEND = "redis"
    event = make_event(venue)
    wanted = seats(event, "A", "1", 1, 2)
    token = hold(user_api, event, wanted).json()["token"]
    get_redis().delete(RedisSeatLocks.seat_key(event.pk, wanted[1]))
    response = user_api.patch(f"/api/holds/{token}/")
    assert response.status_code == 409
    assert response.json() == {
        "code": "hold_lost",
        "detail": HoldLost.detail,
        "seats": [wanted[1]],
    }
    # Nothing was extended: the seat still held keeps its original TTL.
    assert 0 < get_redis().pttl(RedisSeatLocks.seat_key(event.pk, wanted[0])) <= 900_000


def test_the_scheduler_loop_sweeps_expired_holds(user_api, sale, settings):
    from core import streams
    from live.scheduler import Scheduler

    settings.TICKETING_HOLD_TTL_SECONDS = 0.2
    wanted = seats(sale, "A", "2", 4, 5)
    hold(user_api, sale, wanted)
    time.sleep(0.25)
    committed(Scheduler().run_periodic)
    assert SeatHold.objects.get().status == "expired"
    messages = streams.history_since(f"seats:{sale.pk}", 0).messages
    assert [(m["type"], m["data"]["seats"]) for m in messages] == [("seat.expired", wanted)]
