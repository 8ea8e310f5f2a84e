from datetime import UTC, datetime, time, timedelta
from itertools import combinations

import pytest
from django.utils import timezone

from live import scheduler
from live.models import Draw, Entry, Winner
from live.services.draws import next_daily_occurrence
from live.services.performing import draw_perform
from live.verify import verify_proof
from tests.conftest import client_for
from tests.factories import draw_url, make_draw, make_event

pytestmark = pytest.mark.django_db

TIERS = [{"name": "Jackpot", "rank": 1, "matches": 2}, {"name": "Small", "rank": 2, "matches": 1}]


def lottery(**fields):
    fields.setdefault("prizes", TIERS)
    return make_draw(kind="lottery", numbers_count=fields.pop("k", 2),
                     numbers_max=fields.pop("n", 4), **fields)


def test_ballot_is_stored_sorted(user_api):
    draw = lottery()
    response = user_api.post(draw_url(draw, "participate"), {"numbers": [4, 1]})
    assert response.status_code == 201 and response.json()["numbers"] == [1, 4]
    assert Entry.objects.get().numbers == "1,4"


@pytest.mark.parametrize("numbers", [
    None, "1,2", [1], [1, 2, 3], [2, 2], [0, 1], [1, 5], ["1", "2"], [1.5, 2], [True, 2],
])
def test_malformed_ballot_is_400_invalid_ballot(user_api, numbers):
    body = {} if numbers is None else {"numbers": numbers}
    response = user_api.post(draw_url(lottery(), "participate"), body)
    assert response.status_code == 400 and response.json()["code"] == "invalid_ballot"
    assert not Entry.objects.exists()


def test_ballots_up_to_the_per_draw_maximum(user_api):
    draw = lottery(max_ballots=2)
    for numbers in ([1, 2], [1, 2]):
        assert user_api.post(draw_url(draw, "participate"), {"numbers": numbers}).status_code == 201
    response = user_api.post(draw_url(draw, "participate"), {"numbers": [3, 4]})
    assert response.status_code == 409 and response.json()["code"] == "ballot_limit_reached"
    assert Entry.objects.count() == 2


def test_post_lotteries_enters_a_ballot(user_api, user):
    draw = lottery()
    response = user_api.post("/api/lotteries/", {"draw": draw.pk, "numbers": [2, 3]})
    assert response.status_code == 201
    body = response.json()
    assert body["numbers"] == [2, 3] and body["draw"] == draw.pk and body["prize"] is None
    assert Entry.objects.get().user == user


@pytest.mark.parametrize("body, status", [({"numbers": [1, 2]}, 400), ({"draw": "x"}, 400),
                                          ({"draw": 999_999, "numbers": [1, 2]}, 404),
                                          ("raffle", 404)])
def test_post_lotteries_bad_draw(user_api, body, status):
    if body == "raffle":
        body = {"draw": make_draw().pk, "numbers": [1, 2]}
    assert user_api.post("/api/lotteries/", body).status_code == status
    assert not Entry.objects.exists()


def test_lotteries_list_shows_only_my_ballots(user_api, other_api):
    draw = lottery()
    mine = user_api.post("/api/lotteries/", {"draw": draw.pk, "numbers": [1, 2]}).json()
    theirs = other_api.post("/api/lotteries/", {"draw": draw.pk, "numbers": [3, 4]}).json()
    listed = user_api.get("/api/lotteries/").json()
    assert [b["id"] for b in listed["results"]] == [mine["id"]] and listed["count"] == 1
    assert user_api.get(f"/api/lotteries/{mine['id']}/").status_code == 200
    hidden = user_api.get(f"/api/lotteries/{theirs['id']}/")
    assert hidden.status_code == 404 and hidden.json()["code"] == "ballot_not_found"


def test_lotteries_date_filters(user_api):
    draw = lottery()
    ballot = user_api.post("/api/lotteries/", {"draw": draw.pk, "numbers": [1, 2]}).json()
    Entry.objects.filter(pk=ballot["id"]).update(created_at=datetime(2030, 5, 2, 12, tzinfo=UTC))
    assert user_api.get("/api/lotteries/?from_date=2030-05-02&to_date=2030-05-02").json()[
        "count"] == 1
    assert user_api.get("/api/lotteries/?from_date=2030-05-03").json()["count"] == 0
    bad = user_api.get("/api/lotteries/?from_date=2030-05-03&to_date=2030-05-01")
    assert bad.status_code == 400 and "to_date" in bad.json()["fields"]
    assert user_api.get("/api/lotteries/?to_date=may").status_code == 400


def test_anonymous_has_no_ballots(api):
    assert api.get("/api/lotteries/").status_code == 401


def every_ballot(draw, make_user):
    """One user per possible ballot of a 2-of-4 lottery."""
    for numbers in combinations(range(1, 5), 2):
        client_for(make_user()).post(draw_url(draw, "participate"), {"numbers": list(numbers)})


def test_tiers_by_number_of_matches(staff_api, make_user):
    draw = lottery()
    every_ballot(draw, make_user)
    body = staff_api.post(draw_url(draw, "perform")).json()
    drawn = body["winning_numbers"]
    assert len(drawn) == 2
    jackpot = Winner.objects.get(draw=draw, prize__matches=2)
    assert jackpot.entry.number_list == drawn
    assert Winner.objects.filter(draw=draw, prize__matches=1).count() == 4
    assert verify_proof(staff_api.get(draw_url(draw, "proof")).json()).startswith("OK")


def test_single_ballot_mode_ties_go_to_earliest_ballot(staff_api, make_user):
    draw = lottery(lottery_mode="single_ballot", prizes=[{"name": "Pot", "rank": 1}])
    users = [make_user() for _ in range(4)]
    for u in users:
        client_for(u).post(draw_url(draw, "participate"), {"numbers": [2, 3]})
    body = staff_api.post(draw_url(draw, "perform")).json()
    assert body["winning_numbers"] == [2, 3]
    assert Winner.objects.get(draw=draw).user == users[0]
    assert verify_proof(staff_api.get(draw_url(draw, "proof")).json()).startswith("OK")


def test_single_ballot_mode_winner_numbers_win(staff_api, make_user):
    draw = lottery(lottery_mode="single_ballot", prizes=[{"name": "Pot", "rank": 1}])
    every_ballot(draw, make_user)
    body = staff_api.post(draw_url(draw, "perform")).json()
    winner = Winner.objects.get(draw=draw)
    assert winner.entry.number_list == body["winning_numbers"]
    proof = staff_api.get(draw_url(draw, "proof")).json()
    assert verify_proof(proof).startswith("OK")
    proof["lottery"]["winning_numbers"] = [9, 9]
    with pytest.raises(Exception, match="winning numbers"):
        verify_proof(proof)


def test_lottery_redraw_is_refused(staff_api):
    draw = lottery()
    staff_api.post(draw_url(draw, "perform"))
    response = staff_api.post(draw_url(draw, "redraw"))
    assert response.status_code == 409 and response.json()["code"] == "redraw_not_supported"


def test_winning_ballots_lists_lottery_winners_publicly(api, staff_api, make_user):
    draw = lottery()
    every_ballot(draw, make_user)
    staff_api.post(draw_url(draw, "perform"))
    body = api.get("/api/winning-ballots/?page_size=2").json()
    assert body["count"] == 5 and len(body["results"]) == 2
    today = timezone.now().date()
    assert api.get(f"/api/winning-ballots/?from_date={today}").json()["count"] == 5
    later = today + timedelta(days=1)
    assert api.get(f"/api/winning-ballots/?from_date={later}").json()["count"] == 0
    assert api.get("/api/winning-ballots/?from_date=2030-13-01").status_code == 400


def test_my_ballot_shows_matches_and_prize_after_draw(staff_api, make_user):
    draw = lottery()
    every_ballot(draw, make_user)
    staff_api.post(draw_url(draw, "perform"))
    jackpot = Winner.objects.get(draw=draw, prize__matches=2)
    body = client_for(jackpot.user).get(f"/api/lotteries/{jackpot.entry_id}/").json()
    assert body["matches"] == 2 and body["prize"] == "Jackpot"


# --- Recurrence -----------------------------------------------------------------------


def test_next_daily_occurrence_follows_local_time_across_dst():
    after = datetime(2026, 3, 28, 19, 0, tzinfo=UTC)  # 20:00 in Paris (CET)
    nxt = next_daily_occurrence(local_time=time(20, 0), tz_name="Europe/Paris",
                                         after=after)
    assert nxt.astimezone(UTC) == datetime(2026, 3, 29, 18, 0, tzinfo=UTC)  # CEST


def test_daily_draw_is_scheduled_at_local_time(staff_api):
    event = make_event(time_zone="Asia/Tokyo")
    response = staff_api.post(f"/api/events/{event.pk}/draws/", {
        "title": "Midnight lotto", "kind": "lottery", "numbers_count": 2, "numbers_max": 4,
        "recurrence": "daily", "recurrence_time": "00:00", "prizes": TIERS})
    assert response.status_code == 201
    draw = Draw.objects.get()
    from zoneinfo import ZoneInfo

    local = draw.scheduled_at.astimezone(ZoneInfo("Asia/Tokyo"))
    assert (local.hour, local.minute) == (0, 0) and draw.scheduled_at > timezone.now()


def test_performing_recurring_draw_makes_the_next_once():
    draw = lottery(recurrence="daily", recurrence_time=time(0, 0))
    draw_perform(draw=draw, actor=None, source="test")
    assert scheduler.create_recurring_draws() == 1
    assert scheduler.create_recurring_draws() == 0
    nxt = Draw.objects.get(previous=draw)
    assert nxt.scheduled_at == draw.scheduled_at + timedelta(days=1)
    assert nxt.status == "open" and nxt.seed != draw.seed
    assert [(p.name, p.matches) for p in nxt.prizes.all()] == [("Jackpot", 2), ("Small", 1)]
