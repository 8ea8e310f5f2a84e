""""Mine" and the answers a client needs without a second call (issue 15): my entries,
live holds, tickets and referrals; a hold's seats; the wallet's updated_at; a winning
ballot; what a buyer reads before logging in."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import TestCase
from django.utils import timezone

from core.models import Event
from live.services.draws import draw_enter
from live.services.performing import draw_perform
from tests.conftest import assert_error, client_for
from tests.factories import make_draw
from tests.factories import make_event as make_plain_event
from tests.ticketing_helpers import PRICE_A, committed, fund, hold, seats
from ticketing.models import SeatHold, Wallet

pytest_plugins = ["tests.ticketing_fixtures"]
pytestmark = pytest.mark.django_db


def performed(draw):
    with TestCase.captureOnCommitCallbacks(execute=True):
        draw_perform(draw=draw, actor=None, source="test")


# --- my entries ------------------------------------------------------------------------


def test_my_entries_say_where_each_stands(user, other_user):
    event = make_plain_event(title="Fair")
    still_open = make_draw(event, title="Open raffle")
    won = make_draw(event, title="Won raffle", claim_window_minutes=30)
    lost = make_draw(event, title="Lost raffle")
    draw_enter(draw=still_open, user=user, numbers=None)
    draw_enter(draw=won, user=user, numbers=None)
    draw_enter(draw=lost, user=other_user, numbers=None)
    draw_enter(draw=lost, user=user, numbers=None)
    performed(won)
    from live.models import Winner

    # Whoever the seed picked in `lost`, make user the loser: the other entrant wins.
    performed(lost)
    Winner.objects.filter(draw=lost).update(user=other_user, entry=lost.entries.get(
        user=other_user))

    body = client_for(user).get("/api/accounts/me/entries/").json()
    by_draw = {e["draw_title"]: e for e in body["results"]}
    assert body["count"] == 3
    assert by_draw["Open raffle"]["state"] == "open"
    assert by_draw["Open raffle"]["prize"] is None
    assert by_draw["Won raffle"]["state"] == "won"
    assert by_draw["Won raffle"]["prize"] == "Bicycle"
    assert by_draw["Won raffle"]["claim_deadline"] is not None
    assert by_draw["Won raffle"]["event_title"] == "Fair"
    assert by_draw["Lost raffle"]["state"] == "not_won"
    assert client_for(other_user).get("/api/accounts/me/entries/").json()["count"] == 1


def test_my_entries_filter_by_kind_and_draw_status(user):
    event = make_plain_event()
    raffle = make_draw(event, title="Raffle")
    lotto = make_draw(event, kind="lottery", title="Lotto")
    draw_enter(draw=raffle, user=user, numbers=None)
    draw_enter(draw=lotto, user=user, numbers=[1, 2, 3])
    api = client_for(user)
    lotteries = api.get("/api/accounts/me/entries/?kind=lottery").json()["results"]
    assert [(e["draw_title"], e["numbers"]) for e in lotteries] == [("Lotto", [1, 2, 3])]
    assert api.get("/api/accounts/me/entries/?draw_status=performed").json()["count"] == 0


# --- holds -----------------------------------------------------------------------------


def test_a_hold_answers_its_seats_with_names_and_prices(user, sale):
    api = client_for(user)
    wanted = seats(sale, "A", "1", 2, 1)
    created = hold(api, sale, wanted)
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["total"] == 2 * PRICE_A
    assert [(s["section"], s["row"], s["label"], s["number"], s["price"])
            for s in body["seat_details"]] == [("A", "1", "1", 1, PRICE_A),
                                               ("A", "1", "2", 2, PRICE_A)]
    read = api.get(f"/api/holds/{body['token']}/").json()
    assert read["seat_details"] == body["seat_details"]


def test_my_holds_list_the_live_ones_with_their_tokens(user, other_user, sale):
    api = client_for(user)
    live = committed(hold, api, sale, seats(sale, "A", "1", 1)).json()
    released = committed(hold, api, sale, seats(sale, "A", "1", 2)).json()
    committed(api.delete, f"/api/holds/{released['token']}/")
    committed(hold, client_for(other_user), sale, seats(sale, "A", "1", 3))
    body = api.get("/api/accounts/me/holds/").json()
    assert [h["token"] for h in body["results"]] == [live["token"]]
    assert body["results"][0]["seat_details"][0]["label"] == "1"
    # An expired hold holds nothing any more.
    SeatHold.objects.filter(token=live["token"]).update(
        expires_at=timezone.now() - timedelta(seconds=1))
    assert api.get("/api/accounts/me/holds/").json()["count"] == 0


# --- tickets ---------------------------------------------------------------------------


def test_my_tickets_carry_event_venue_and_seat(user, sale):
    fund(user)
    api = client_for(user)
    token = committed(hold, api, sale, seats(sale, "B", "2", 4)).json()["token"]
    assert committed(api.post, f"/api/holds/{token}/purchase/").status_code == 201
    ticket = api.get(f"/api/tickets/?event={sale.pk}").json()["results"][0]
    assert ticket["event_title"] == sale.title
    assert ticket["venue"] == "Arena" and ticket["venue_address"] == "1 Court Street"
    assert (ticket["section"], ticket["row"], ticket["seat"], ticket["seat_number"]) == (
        "B", "2", "4", 4)
    assert ticket["event_starts_at"] and ticket["price"] == 2_000


# --- referrals -------------------------------------------------------------------------


def test_my_referrals_show_pending_ones_and_why(user, make_user):
    pending = make_user(email="friend@example.com", referred_by=user)
    counted = make_user(email="verified@example.com", referred_by=user,
                        email_verified_at=timezone.now(), referral_counted_at=timezone.now())
    body = client_for(user).get("/api/accounts/me/referrals/").json()
    by_status = {r["status"]: r for r in body["results"]}
    assert body["count"] == 2
    assert by_status["pending"]["referee"] == "f***@example.com"
    assert by_status["pending"]["waiting_for"] == "referee_verification"
    assert by_status["counted"]["waiting_for"] is None
    assert by_status["counted"]["counted_at"] is not None
    only_pending = client_for(user).get("/api/accounts/me/referrals/?counted=false").json()
    assert [r["referee"] for r in only_pending["results"]] == ["f***@example.com"]
    assert pending.email not in str(body) and counted.email not in str(body)


# --- wallet.updated_at -----------------------------------------------------------------


def test_wallet_updated_at_moves_with_every_balance_change(user, sale):
    fund(user)
    first = Wallet.objects.get(user=user).updated_at
    fund(user, 10)
    topped = Wallet.objects.get(user=user).updated_at
    assert topped > first
    api = client_for(user)
    token = committed(hold, api, sale, seats(sale, "B", "1", 1)).json()["token"]
    order = committed(api.post, f"/api/holds/{token}/purchase/").json()
    bought = Wallet.objects.get(user=user).updated_at
    assert bought > topped
    assert api.get("/api/wallet/").json()["updated_at"] == bought.isoformat().replace(
        "+00:00", "Z")
    committed(api.post, f"/api/tickets/{order['tickets'][0]['id']}/cancel/")
    assert Wallet.objects.get(user=user).updated_at > bought


# --- winning ballot --------------------------------------------------------------------


def test_a_winning_ballot_reads_by_id_and_drafts_stay_hidden(api, user):
    event = make_plain_event()
    pot = make_draw(event, kind="lottery", lottery_mode="single_ballot",
                    prizes=[{"name": "Pot", "rank": 1}])
    draw_enter(draw=pot, user=user, numbers=[1, 2, 3])
    performed(pot)
    winner = pot.winners.get()
    body = api.get(f"/api/winning-ballots/{winner.pk}/").json()
    assert body["numbers"] == [1, 2, 3] and body["prize"] == "Pot"
    assert body["event"] == event.pk
    assert "alice@example.com" not in str(body)
    assert_error(api.get("/api/winning-ballots/999999/"), 404, "winning_ballot_not_found")
    Event.objects.filter(pk=event.pk).update(status="draft")
    assert_error(api.get(f"/api/winning-ballots/{winner.pk}/"), 404,
                 "winning_ballot_not_found")


# --- public reads ----------------------------------------------------------------------


def test_a_buyer_reads_prices_sale_and_seat_map_before_logging_in(api, sale):
    prices = api.get(f"/api/events/{sale.pk}/prices/")
    assert prices.status_code == 200 and len(prices.json()["prices"]) == 2
    assert api.get(f"/api/events/{sale.pk}/sale/").json()["max_seats_per_order"] == 6
    seat_map = api.get(f"/api/events/{sale.pk}/seats/")
    assert seat_map.status_code == 200 and len(seat_map.json()["seats"]) == 42
    # Writes still need staff; drafts stay hidden.
    assert api.put(f"/api/events/{sale.pk}/prices/", {"prices": []},
                   format="json").status_code == 401
    Event.objects.filter(pk=sale.pk).update(status="draft")
    for path in ("prices", "sale", "seats"):
        assert_error(api.get(f"/api/events/{sale.pk}/{path}/"), 404, "event_not_found")


def test_venues_public_fields_are_readable_by_anyone(api, staff, venue):
    listed = api.get("/api/venues/").json()["results"]
    assert listed == [{"id": venue.pk, "name": "Arena", "address": "1 Court Street",
                       "sections": 2, "seats": 42, "created_at": listed[0]["created_at"]}]
    detail = api.get(f"/api/venues/{venue.pk}/").json()
    assert detail["seats"] == 42
    assert [(s["name"], s["rows"], s["seats"]) for s in detail["sections"]] == [
        ("A", 3, 30), ("B", 2, 12)]
    assert api.get(f"/api/venues/{venue.pk}/layout/").status_code == 401
    layout = client_for(staff).get(f"/api/venues/{venue.pk}/layout/").json()
    assert len(layout["sections"][0]["rows"][0]["seats"]) == 10
    assert api.get("/api/venues/?search=court").json()["count"] == 1
    assert api.get("/api/venues/?search=nowhere").json()["count"] == 0
