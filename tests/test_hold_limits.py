"""Nobody can sit on a venue (issue 14), on both hold backends.

One user holds at most TICKETING_MAX_HELD_SEATS_PER_USER seats of an event over all
their live holds, also when their requests run in parallel; and the lifetime cap is
per user and event, so releasing and holding again does not restart it.
"""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from core import failpoints
from tests.ticketing_helpers import hold, make_event, seats
from ticketing.errors import HoldLimitReached
from ticketing.models import SeatHold
from ticketing.services.holds import hold_create

pytest_plugins = ["tests.ticketing_fixtures"]


def test_one_user_cannot_hold_more_than_the_cap_over_several_holds(user_api, other_api, sale,
                                                                   settings):
    settings.TICKETING_MAX_HELD_SEATS_PER_USER = 4
    assert hold(user_api, sale, seats(sale, "A", "1", 1, 2, 3)).status_code == 201
    response = hold(user_api, sale, seats(sale, "A", "2", 1, 2))
    assert response.status_code == 409
    body = response.json()
    assert (body["code"], body["held"], body["limit"]) == ("hold_limit_reached", 3, 4)
    assert SeatHold.objects.count() == 1
    assert hold(user_api, sale, seats(sale, "A", "2", 1)).status_code == 201
    # Another account has its own allowance.
    assert hold(other_api, sale, seats(sale, "A", "3", 1, 2, 3, 4)).status_code == 201


def test_the_default_cap_stops_one_account_from_holding_the_venue(user_api, sale):
    # The sale allows 6 seats per hold; the default cap is 8 per user and event.
    assert hold(user_api, sale, seats(sale, "A", "1", *range(1, 7))).status_code == 201
    assert hold(user_api, sale, seats(sale, "A", "2", 1, 2)).status_code == 201
    response = hold(user_api, sale, seats(sale, "A", "2", 3))
    assert response.status_code == 409 and response.json()["code"] == "hold_limit_reached"
    best = user_api.post(f"/api/events/{sale.pk}/holds/", {"best_available": {"count": 1}},
                         format="json")
    assert best.status_code == 409 and best.json()["code"] == "hold_limit_reached"


def test_released_bought_and_expired_seats_do_not_count(user_api, sale, settings):
    settings.TICKETING_MAX_HELD_SEATS_PER_USER = 2
    first = hold(user_api, sale, seats(sale, "A", "1", 1, 2)).json()["token"]
    assert user_api.delete(f"/api/holds/{first}/").status_code == 204
    second = hold(user_api, sale, seats(sale, "A", "1", 3, 4))
    assert second.status_code == 201
    SeatHold.objects.filter(token=second.json()["token"]).update(
        expires_at=timezone.now() - timedelta(seconds=1))
    assert hold(user_api, sale, seats(sale, "A", "1", 5, 6)).status_code == 201


def test_release_and_hold_again_does_not_restart_the_lifetime(user_api, sale, settings):
    settings.TICKETING_HOLD_TTL_SECONDS = 600
    settings.TICKETING_HOLD_MAX_LIFETIME_SECONDS = 900
    token = hold(user_api, sale, seats(sale, "A", "1", 1)).json()["token"]
    # 800 s into the user's window for this event...
    started = timezone.now() - timedelta(seconds=800)
    SeatHold.objects.filter(token=token).update(created_at=started, window_started_at=started)
    assert user_api.delete(f"/api/holds/{token}/").status_code == 204
    again = hold(user_api, sale, seats(sale, "A", "1", 1))
    assert again.status_code == 201
    # ...a new hold gets what is left of it, not a fresh lifetime.
    assert 95 <= again.json()["expires_in_seconds"] <= 100
    extended = user_api.patch(f"/api/holds/{again.json()['token']}/")
    assert extended.status_code == 409
    assert extended.json()["code"] == "hold_lifetime_exceeded"


def test_a_used_up_window_refuses_new_holds_until_the_cooldown_passed(user_api, sale,
                                                                      settings):
    settings.TICKETING_HOLD_MAX_LIFETIME_SECONDS = 900
    settings.TICKETING_HOLD_COOLDOWN_SECONDS = 600
    token = hold(user_api, sale, seats(sale, "A", "1", 1)).json()["token"]
    # The window was used up and its last hold expired 100 s ago.
    started = timezone.now() - timedelta(seconds=1000)
    SeatHold.objects.filter(token=token).update(
        created_at=started, window_started_at=started,
        expires_at=timezone.now() - timedelta(seconds=100))
    refused = hold(user_api, sale, seats(sale, "A", "1", 2))
    assert refused.status_code == 409
    assert refused.json()["code"] == "hold_lifetime_exceeded"
    # Once the last hold ended longer ago than the cooldown, a new window starts.
    SeatHold.objects.filter(token=token).update(
        expires_at=timezone.now() - timedelta(seconds=601))
    fresh = hold(user_api, sale, seats(sale, "A", "1", 2))
    assert fresh.status_code == 201
    assert fresh.json()["expires_in_seconds"] >= 890


def test_another_event_has_its_own_window_and_allowance(user_api, sale, venue, settings):
    settings.TICKETING_MAX_HELD_SEATS_PER_USER = 1
    assert hold(user_api, sale, seats(sale, "A", "1", 1)).status_code == 201
    later = make_event(venue, starts_in=timedelta(days=20))  # same venue, another night
    assert hold(user_api, later, seats(later, "A", "1", 1)).status_code == 201


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_parallel_holds_of_one_user_cannot_both_pass_the_cap(user, sale, settings):
    """The second claim starts while the first has counted the user's seats and not yet
    committed: it must wait for the first and count its seats."""
    settings.TICKETING_MAX_HELD_SEATS_PER_USER = 2
    settings.TICKETING_SEAT_LOCK_TIMEOUT_MS = 10_000
    outcome: dict[str, object] = {}
    firsts, second = seats(sale, "A", "1", 1, 2), seats(sale, "A", "2", 1)

    def second_claim():
        try:
            outcome["second"] = hold_create(event=sale, user=user, seat_ids=second)
        except HoldLimitReached as exc:
            outcome["second"] = exc
        finally:
            connection.close()

    thread = threading.Thread(target=second_claim)

    def start_the_second(**context):
        if thread.ident is None:
            thread.start()
            thread.join(timeout=1.0)  # it waits for this transaction: still running

    with failpoints.armed("hold.claim.counted", start_the_second):
        first = hold_create(event=sale, user=user, seat_ids=firsts)
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert first.status == "active"
    assert isinstance(outcome["second"], HoldLimitReached), outcome
    live = SeatHold.objects.filter(user=user, status="active")
    assert sum(len(h.seat_ids) for h in live) == 2
