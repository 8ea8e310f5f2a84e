from datetime import timedelta

import pytest
from django.utils import timezone

from core.models import AuditEntry
from core.streams import history_since
from live import fairness
from live.models import CheckIn, Draw, Entry, Winner
from live.verify import verify_proof
from tests.factories import draw_url, make_draw, make_entrants, make_event

pytestmark = pytest.mark.django_db

RAFFLE = {"title": "Raffle", "prizes": [{"name": "TV", "rank": 1},
                                        {"name": "Mug", "rank": 2, "quantity": 2}]}


def enter_users(draw, make_user, n):
    return make_entrants(draw, n)


def types(stream):
    return [m["type"] for m in history_since(stream, 0).messages]


# --- Create and edit -----------------------------------------------------------------


def test_staff_creates_draw_with_prizes_and_commitment(
    staff_api, django_capture_on_commit_callbacks
):
    event = make_event()
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_api.post(f"/api/events/{event.pk}/draws/", RAFFLE)
    assert response.status_code == 201
    body = response.json()
    draw = Draw.objects.get(pk=body["id"])
    assert [p["name"] for p in body["prizes"]] == ["TV", "Mug"]
    assert body["seed"] is None
    assert body["seed_commitment"] == fairness.commitment(draw.seed)
    created = history_since(f"event:{event.pk}", 0).messages
    assert [m["type"] for m in created] == ["draw.created"]
    assert created[0]["data"]["draw"]["seed_commitment"] == draw.seed_commitment


@pytest.mark.parametrize("change, field", [
    ({"prizes": []}, "prizes"),
    ({"prizes": [{"name": "a", "rank": 1}, {"name": "b", "rank": 1}]}, "prizes"),
    ({"prizes": [{"name": "a", "rank": 1, "quantity": 0}]}, "prizes"),
    ({"kind": "bingo"}, "kind"),
    ({"eligibility": "everyone"}, "eligibility"),
    ({"kind": "lottery"}, "numbers_count"),
    ({"kind": "lottery", "numbers_count": 6, "numbers_max": 5}, "numbers_count"),
    ({"kind": "lottery", "numbers_count": 3, "numbers_max": 100}, "numbers_max"),
    ({"prizes": [{"name": "a", "rank": 1, "matches": 2}]}, "prizes"),
    ({"entries_close_at": "2030-01-02T00:00:00Z", "scheduled_at": "2030-01-01T00:00:00Z"},
     "entries_close_at"),
    ({"recurrence": "daily"}, "recurrence_time"),
    ({"claim_window_minutes": 0}, "claim_window_minutes"),
    ({"scheduled_at": "tomorrow"}, "scheduled_at"),
])
def test_invalid_draw_is_400_and_creates_nothing(staff_api, change, field):
    event = make_event()
    response = staff_api.post(f"/api/events/{event.pk}/draws/", {**RAFFLE, **change})
    assert response.status_code == 400
    assert field in response.json()["fields"]
    assert not Draw.objects.exists()


def test_ticket_holder_draw_refuses_non_holders(staff_api, user_api):
    event = make_event()
    draw = staff_api.post(f"/api/events/{event.pk}/draws/",
                          {**RAFFLE, "eligibility": "ticket_holders"}).json()
    response = user_api.post(f"/api/events/{event.pk}/draws/{draw['id']}/participate/", {})
    assert response.status_code == 403 and response.json()["code"] == "not_ticket_holder"


def test_non_staff_cannot_create_or_edit_draws(api, user_api):
    event = make_event()
    assert api.post(f"/api/events/{event.pk}/draws/", RAFFLE).status_code == 401
    assert user_api.post(f"/api/events/{event.pk}/draws/", RAFFLE).status_code == 403
    draw = make_draw(event)
    assert user_api.patch(draw_url(draw), {"title": "Mine"}).status_code == 403
    assert Draw.objects.get().title == "Grand raffle"


def test_staff_edits_open_draw_but_not_performed_one(staff_api):
    draw = make_draw()
    response = staff_api.patch(draw_url(draw), {"title": "Bigger", "prizes": RAFFLE["prizes"]})
    assert response.status_code == 200
    assert response.json()["title"] == "Bigger" and len(response.json()["prizes"]) == 2
    staff_api.post(draw_url(draw, "perform"))
    late = staff_api.patch(draw_url(draw), {"title": "Too late"})
    assert late.status_code == 409 and late.json()["code"] == "draw_not_editable"
    assert Draw.objects.get().title == "Bigger"


def test_patch_validates_against_current_values(staff_api):
    draw = make_draw(kind="lottery", numbers_count=3, numbers_max=10)
    response = staff_api.patch(draw_url(draw), {"numbers_max": 2})
    assert response.status_code == 400 and "numbers_count" in response.json()["fields"]


def test_draws_of_draft_event_are_hidden(api, staff_api):
    draw = make_draw(make_event(status="draft"))
    assert api.get(f"/api/events/{draw.event_id}/draws/").status_code == 404
    assert api.get(draw_url(draw)).status_code == 404
    assert staff_api.get(draw_url(draw)).status_code == 200


def test_list_and_detail_draws(api):
    draw = make_draw()
    listed = api.get(f"/api/events/{draw.event_id}/draws").json()
    assert listed["count"] == 1 and listed["results"][0]["id"] == draw.pk
    assert api.get(draw_url(draw)).json()["status"] == "open"
    other = make_event()
    assert api.get(f"/api/events/{other.pk}/draws/{draw.pk}/").status_code == 404


# --- Participate -------------------------------------------------------------------


def test_raffle_entry_is_implicit_and_counted(user_api, user, django_capture_on_commit_callbacks):
    draw = make_draw()
    with django_capture_on_commit_callbacks(execute=True):
        response = user_api.post(draw_url(draw, "participate"))
    assert response.status_code == 201
    assert Entry.objects.get().user == user
    draw.refresh_from_db()
    assert draw.entries_count == 1
    message = history_since(f"draw:{draw.pk}", 0).messages[-1]
    assert message["type"] == "draw.entries" and message["data"]["count"] == 1


def test_duplicate_raffle_entry_is_409(user_api):
    draw = make_draw()
    user_api.post(draw_url(draw, "participate"))
    response = user_api.post(draw_url(draw, "participate"))
    assert response.status_code == 409 and response.json()["code"] == "already_entered"
    assert Entry.objects.count() == 1


@pytest.mark.parametrize("setup, status, code", [
    ({"entries_close_at": "past"}, 409, "entries_closed"),
    ({"eligibility": "checked_in"}, 403, "not_checked_in"),
    ({"requires_verified_phone": True}, 403, "phone_not_verified"),
    ({"kind": "external"}, 409, "draw_not_enterable"),
])
def test_participation_refusals_have_their_own_codes(user_api, setup, status, code):
    if setup.get("entries_close_at") == "past":
        setup = {"entries_close_at": timezone.now() - timedelta(seconds=1)}
    draw = make_draw(**setup)
    response = user_api.post(draw_url(draw, "participate"))
    assert response.status_code == status and response.json()["code"] == code
    assert not Entry.objects.exists()


def test_checked_in_user_may_enter_checked_in_draw(user_api, user):
    draw = make_draw(eligibility="checked_in")
    CheckIn.objects.create(event=draw.event, user=user)
    assert user_api.post(draw_url(draw, "participate")).status_code == 201


def test_verified_phone_may_enter(make_user):
    from tests.conftest import client_for

    verified = make_user(phone="+15550001", phone_verified_at=timezone.now())
    draw = make_draw(requires_verified_phone=True)
    assert client_for(verified).post(draw_url(draw, "participate")).status_code == 201


def test_raffle_entry_with_numbers_is_invalid_ballot(user_api):
    response = user_api.post(draw_url(make_draw(), "participate"), {"numbers": [1, 2]})
    assert response.status_code == 400 and response.json()["code"] == "invalid_ballot"


def test_anonymous_cannot_enter(api):
    assert api.post(draw_url(make_draw(), "participate")).status_code == 401


def test_entering_performed_draw_is_closed(user_api, staff_api):
    draw = make_draw()
    staff_api.post(draw_url(draw, "perform"))
    response = user_api.post(draw_url(draw, "participate"))
    assert response.status_code == 409 and response.json()["code"] == "entries_closed"


# --- Perform ---------------------------------------------------------------------------


def test_perform_raffle_picks_distinct_winners_in_rank_order(staff_api, make_user):
    draw = make_draw(prizes=RAFFLE["prizes"])
    enter_users(draw, make_user, 10)
    response = staff_api.post(draw_url(draw, "perform"))
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "performed"
    assert fairness.commitment(body["seed"]) == body["seed_commitment"]
    assert [w["prize"] for w in body["winners"]] == ["TV", "Mug", "Mug"]
    winners = Winner.objects.filter(draw=draw)
    assert winners.count() == 3 and len({w.user_id for w in winners}) == 3


def test_perform_twice_is_409_and_changes_nothing(staff_api, make_user):
    draw = make_draw()
    enter_users(draw, make_user, 5)
    first = staff_api.post(draw_url(draw, "perform")).json()
    again = staff_api.post(draw_url(draw, "perform"))
    assert again.status_code == 409 and again.json()["code"] == "already_performed"
    assert staff_api.get(draw_url(draw)).json() == first
    assert Winner.objects.count() == 1


def test_perform_with_fewer_entries_than_prizes(staff_api, make_user):
    draw = make_draw(prizes=RAFFLE["prizes"])
    enter_users(draw, make_user, 2)
    body = staff_api.post(draw_url(draw, "perform")).json()
    assert len(body["winners"]) == 2 and body["entries_count"] == 2


def test_perform_without_entries_has_no_winners(staff_api):
    body = staff_api.post(draw_url(make_draw(), "perform")).json()
    assert body["status"] == "performed" and body["winners"] == []


def test_only_staff_perform(user_api, api):
    draw = make_draw()
    assert user_api.post(draw_url(draw, "perform")).status_code == 403
    assert api.post(draw_url(draw, "perform")).status_code == 401
    draw.refresh_from_db()
    assert draw.status == "open"


def test_perform_publishes_closing_started_winner_finished(staff_api, make_user,
                                                           django_capture_on_commit_callbacks):
    draw = make_draw(prizes=RAFFLE["prizes"])
    enter_users(draw, make_user, 4)
    with django_capture_on_commit_callbacks(execute=True):
        staff_api.post(draw_url(draw, "perform"))
    messages = history_since(f"draw:{draw.pk}", 0).messages
    assert [m["type"] for m in messages] == [
        "draw.closing", "draw.started", "draw.winner", "draw.winner",
        "draw.finished"]
    winner = messages[2]["data"]
    assert winner["prize"]["name"] == "TV" and winner["proof_url"].endswith("/proof/")
    assert "@" not in winner["winners"][0]["winner"] or "***" in winner["winners"][0]["winner"]
    assert messages[-1]["data"]["seed"] == Draw.objects.get().seed


def test_perform_external_stores_given_winners(staff_api, user, other_user):
    draw = make_draw(kind="external", prizes=RAFFLE["prizes"])
    tv, mug = draw.prizes.order_by("rank")
    response = staff_api.post(draw_url(draw, "perform"), {"winners": [
        {"prize_id": tv.pk, "user_id": user.pk}, {"prize_id": mug.pk, "user_id": other_user.pk}]})
    assert response.status_code == 200
    assert sorted(Winner.objects.values_list("user_id", flat=True)) == sorted(
        [user.pk, other_user.pk])


@pytest.mark.parametrize("winners", [
    None, [], [{"prize_id": 0, "user_id": 1}], [{"prize_id": "tv"}], "everyone",
    "unknown_user", "too_many", "prize_as_list", "user_as_bool", "huge_user",
])
def test_perform_external_rejects_bad_winners(staff_api, user, winners):
    draw = make_draw(kind="external")
    tv = draw.prizes.get()
    if winners == "unknown_user":
        winners = [{"prize_id": tv.pk, "user_id": 999_999}]
    elif winners == "too_many":
        winners = [{"prize_id": tv.pk, "user_id": user.pk}] * 2
    elif winners == "prize_as_list":
        winners = [{"prize_id": [tv.pk], "user_id": user.pk}]
    elif winners == "user_as_bool":
        winners = [{"prize_id": tv.pk, "user_id": True}]
    elif winners == "huge_user":
        winners = [{"prize_id": tv.pk, "user_id": 10**30}]
    body = {} if winners is None else {"winners": winners}
    response = staff_api.post(draw_url(draw, "perform"), body)
    assert response.status_code == 400
    assert response.json()["code"] in {"invalid_winners", "invalid"}
    draw.refresh_from_db()
    assert draw.status == "open" and not Winner.objects.exists()


# --- Claim and redraw -----------------------------------------------------------------


def performed_raffle(staff_api, make_user, n=5, **fields):
    draw = make_draw(**fields)
    users = enter_users(draw, make_user, n)
    staff_api.post(draw_url(draw, "perform"))
    winner = Winner.objects.get(draw=draw)
    return draw, winner, users


def test_winner_claims_within_window(staff_api, make_user):
    from tests.conftest import client_for

    draw, winner, _users = performed_raffle(staff_api, make_user)
    response = client_for(winner.user).post(draw_url(draw, "claim"))
    assert response.status_code == 200 and response.json()["claimed"][0]["winner_id"] == winner.pk
    winner.refresh_from_db()
    assert winner.claimed_at is not None
    again = client_for(winner.user).post(draw_url(draw, "claim"))
    assert again.status_code == 409 and again.json()["code"] == "already_claimed"


def test_non_winner_cannot_claim(staff_api, make_user):
    from tests.conftest import client_for

    draw, winner, users = performed_raffle(staff_api, make_user)
    loser = next(u for u in users if u.pk != winner.user_id)
    response = client_for(loser).post(draw_url(draw, "claim"))
    assert response.status_code == 403 and response.json()["code"] == "not_a_winner"
    assert not Winner.objects.filter(claimed_at__isnull=False).exists()


def test_claim_after_window_is_409(staff_api, make_user):
    from tests.conftest import client_for

    draw, winner, _ = performed_raffle(staff_api, make_user)
    Winner.objects.filter(pk=winner.pk).update(claim_deadline=timezone.now())
    response = client_for(winner.user).post(draw_url(draw, "claim"))
    assert response.status_code == 409 and response.json()["code"] == "claim_window_closed"


def test_claim_before_perform_is_409(user_api):
    response = user_api.post(draw_url(make_draw(), "claim"))
    assert response.status_code == 409 and response.json()["code"] == "not_performed"


def test_redraw_within_window_is_409(staff_api, make_user):
    draw, _, _ = performed_raffle(staff_api, make_user)
    response = staff_api.post(draw_url(draw, "redraw"))
    assert response.status_code == 409 and response.json()["code"] == "claim_window_open"
    assert Winner.objects.count() == 1


def test_redraw_after_window_picks_a_non_winner(staff_api, make_user):
    draw, winner, _ = performed_raffle(staff_api, make_user, n=3)
    Winner.objects.filter(pk=winner.pk).update(claim_deadline=timezone.now())
    response = staff_api.post(draw_url(draw, "redraw"))
    assert response.status_code == 200
    winner.refresh_from_db()
    assert winner.forfeited_at is not None
    replacement = Winner.objects.exclude(pk=winner.pk).get()
    assert replacement.user_id != winner.user_id and replacement.round == 1
    assert replacement.prize_id == winner.prize_id and replacement.pick == 1
    proof = staff_api.get(draw_url(draw, "proof")).json()
    assert verify_proof(proof).startswith("OK")


def test_redraw_until_entries_run_out(staff_api, make_user):
    draw, _winner, _ = performed_raffle(staff_api, make_user, n=2)
    for _ in range(2):
        Winner.objects.filter(draw=draw).update(claim_deadline=timezone.now())
        staff_api.post(draw_url(draw, "redraw"))
    assert Winner.objects.filter(draw=draw).count() == 2  # nobody left for a third
    response = staff_api.post(draw_url(draw, "redraw"))
    assert response.status_code == 409 and response.json()["code"] == "nothing_to_redraw"


def test_redraw_when_all_claimed_is_409(staff_api, make_user):
    draw, _winner, _ = performed_raffle(staff_api, make_user)
    Winner.objects.update(claimed_at=timezone.now(), claim_deadline=timezone.now())
    response = staff_api.post(draw_url(draw, "redraw"))
    assert response.status_code == 409 and response.json()["code"] == "nothing_to_redraw"


def test_redraw_refusals(staff_api, user_api):
    draw = make_draw()
    assert user_api.post(draw_url(draw, "redraw")).status_code == 403
    response = staff_api.post(draw_url(draw, "redraw"))
    assert response.status_code == 409 and response.json()["code"] == "not_performed"


# --- Admin actions ------------------------------------------------------------------


def test_admin_action_performs_draw(client, staff, make_user):
    staff.is_superuser = True
    staff.save()
    client.force_login(staff)
    draw = make_draw()
    enter_users(draw, make_user, 3)
    response = client.post("/admin/live/draw/", {"action": "perform_draws",
                                                 "_selected_action": [draw.pk]})
    assert response.status_code == 302
    draw.refresh_from_db()
    assert draw.status == "performed" and draw.performed_by == f"admin:{staff.pk}"


def test_admin_action_issues_screen_key(client, staff):
    from live.models import ScreenKey

    staff.is_superuser = True
    staff.save()
    client.force_login(staff)
    event = make_event()
    response = client.post("/admin/core/event/", {"action": "issue_screen_key",
                                                  "_selected_action": [event.pk]}, follow=True)
    assert response.status_code == 200
    assert ScreenKey.objects.filter(event=event).count() == 1


def test_kind_cannot_change_once_entries_exist(staff_api, user_api):
    draw = make_draw()
    user_api.post(draw_url(draw, "participate"))
    response = staff_api.patch(draw_url(draw), {"kind": "lottery", "numbers_count": 2,
                                                "numbers_max": 5})
    assert response.status_code == 409 and response.json()["code"] == "draw_has_entries"
    assert Draw.objects.get().kind == "raffle"


def test_admin_creates_draw_with_commitment_and_announces_it(
    client, staff, django_capture_on_commit_callbacks
):
    staff.is_superuser = True
    staff.save()
    client.force_login(staff)
    event = make_event()
    form = {
        "event": event.pk, "title": "Admin draw", "kind": "raffle", "eligibility": "registered",
        "claim_window_minutes": 60, "max_ballots": 1, "lottery_mode": "tiers",
        "recurrence": "none", "created_at_0": "2030-01-01", "created_at_1": "00:00:00",
        "prizes-TOTAL_FORMS": 1, "prizes-INITIAL_FORMS": 0,
        "prizes-0-name": "Hat", "prizes-0-quantity": 1, "prizes-0-rank": 1,
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/admin/live/draw/add/", form)
    assert response.status_code == 302, response.content[:2000]
    draw = Draw.objects.get()
    assert draw.seed_commitment == fairness.commitment(draw.seed)
    created = history_since(f"event:{event.pk}", 0).messages
    assert created[0]["type"] == "draw.created"
    assert created[0]["data"]["draw"]["prizes"][0]["name"] == "Hat"
    assert AuditEntry.objects.get(action="draw.created").actor_id == staff.pk


def test_bulk_entries_continue_positions_and_publish_one_count(user, make_user,
                                                             django_capture_on_commit_callbacks):
    from live.errors import EntriesClosed
    from live.services.draws import draw_close_entries, draw_enter, draw_enter_many

    draw = make_draw()
    draw_enter(draw=draw, user=user)
    others = [make_user().pk for _ in range(3)]
    with django_capture_on_commit_callbacks(execute=True):
        assert draw_enter_many(draw=draw, user_ids=others) == 4
    assert list(Entry.objects.filter(draw=draw).order_by("position")
                .values_list("position", flat=True)) == [1, 2, 3, 4]
    assert Draw.objects.get(pk=draw.pk).entries_count == 4
    published = history_since(f"draw:{draw.pk}", 0).messages
    assert [(m["type"], m["data"]["count"]) for m in published if m["type"] == "draw.entries"
            ][-1] == ("draw.entries", 4)
    draw_close_entries(draw=draw)
    with pytest.raises(EntriesClosed):
        draw_enter_many(draw=draw, user_ids=[make_user().pk])
