"""Review of tombola-beacon-v2 (issue 19): what the first build left open.

- An entry in a draw awaiting its beacon round is not drawn yet ("closed"), never "not_won".
- A relay's hex is stored canonical, and nothing unsigned rides along into the proof.
- A fallback is refused (changing nothing) on a draw not awaiting its round, and waiting for
  a round still to come never earns one.
- The scheduler holds no lock on a beacon draw while it fetches and BLS-checks the round.
"""

import json
import threading
import time
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from live import beacon as drand
from live import fairness
from live.models import Draw, Winner
from live.scheduler import perform_due_draws
from live.services.draws import draw_close_entries, draw_enter
from live.services.performing import draw_perform
from live.verify import main as verify_main
from tests import test_beacon
from tests.conftest import assert_error, client_for
from tests.drand_relay import QUICKNET, QUICKNET_ROUNDS, Relay, drand_relays, moved_chain_info
from tests.factories import draw_url, make_draw, make_entrants
from tests.stream_helpers import verify_action

beacon_settings = test_beacon.beacon_settings  # the fixture, shared


@pytest.mark.django_db
def test_my_entry_in_a_draw_awaiting_its_round_is_not_drawn_yet(beacon_settings, user):
    draw = make_draw()
    draw_enter(draw=draw, user=user, numbers=None)
    draw = draw_perform(draw=draw, actor=None, source="test")
    assert draw.status == Draw.Status.AWAITING_BEACON  # its round is seconds away
    entry = client_for(user).get("/api/accounts/me/entries/").json()["results"][0]
    assert entry["draw_status"] == "awaiting_beacon"
    assert entry["state"] == "closed"  # not "not_won": nobody has been drawn yet


def test_a_relays_spaced_capital_hex_is_stored_canonical_and_unsigned_fields_dropped():
    recorded = QUICKNET_ROUNDS[3]
    capitals = recorded.signature.upper()
    odd = drand.Beacon(round=3, randomness=recorded.randomness.upper(),
                       signature=" ".join(capitals[i:i + 8] for i in range(0, 96, 8)),
                       previous_signature="anything: quicknet signs no previous signature")
    with drand_relays(Relay(rounds={3: odd}), chain_hash=QUICKNET.hash) as (relay,):
        fetched = drand.fetch(QUICKNET, 3, relays=[relay.url], timeout=10, now=time.time())
    # The same signed bytes, as the proof must carry them (strict lowercase hex, 96 chars
    # for the signature column of 192): what a browser verifier parses.
    assert fetched == recorded


@pytest.mark.django_db
def test_a_refused_fallback_on_an_open_draw_closes_nothing(beacon_settings, staff_api):
    draw = make_draw()
    make_entrants(draw, 3)
    beacon_settings.BEACON_FALLBACK_AFTER_SECONDS = 0
    assert_error(staff_api.post(draw_url(draw, "perform"), {"beacon_fallback": "relays down"},
                                format="json"), 409, "beacon_fallback_not_allowed")
    draw.refresh_from_db()
    assert draw.status == Draw.Status.OPEN and draw.closed_at is None and not draw.entries_digest


@pytest.mark.django_db
def test_waiting_for_a_round_still_to_come_never_earns_a_fallback(beacon_settings, staff_api):
    # Performed by hand an hour before entries close: the round is the one after the close.
    draw = make_draw(entries_close_at=timezone.now() + timedelta(hours=1))
    make_entrants(draw, 3)
    beacon_settings.BEACON_FALLBACK_AFTER_SECONDS = 0
    response = staff_api.post(draw_url(draw, "perform"), {}, format="json")
    assert response.status_code == 202
    beacon = response.json()["beacon"]
    assert beacon["fallback_allowed_at"] == beacon["round_at"]  # not waiting_since + 0 s
    # However long it has waited, the v1 stream (which the operator can predict) stays
    # closed to it until its round was due and did not come.
    Draw.objects.filter(pk=draw.pk).update(
        beacon_waiting_since=timezone.now() - timedelta(days=1))
    assert_error(staff_api.post(draw_url(draw, "perform"), {"beacon_fallback": "impatient"},
                                format="json"), 409, "beacon_fallback_not_allowed")
    draw.refresh_from_db()
    assert draw.status == Draw.Status.AWAITING_BEACON and draw.beacon_fallback is None


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_scheduler_holds_no_lock_on_a_beacon_draw_while_it_fetches_the_round(
        beacon_settings):
    beacon_settings.BEACON_CHAIN_INFO = moved_chain_info(round_=3, after=time.time() - 60)
    beacon_settings.BEACON_RETRY_SECONDS = 60  # the lease a second scheduler respects
    beacon_settings.BEACON_TIMEOUT_SECONDS = 30
    draw = make_draw()
    draw_close_entries(draw=draw)
    # Round 3 (long published on this test chain) is the one the slow relay serves: this
    # test is about locks, not about which round (tests/test_beacon.py checks that).
    Draw.objects.filter(pk=draw.pk).update(beacon_round=3,
                                           scheduled_at=timezone.now() - timedelta(seconds=1))
    result = {}

    def scheduler():
        try:
            result["performed"] = perform_due_draws()
        finally:
            connection.close()

    with drand_relays(Relay(mode="timeout", delay=3)) as (relay,):
        beacon_settings.BEACON_RELAYS = [relay.url]
        thread = threading.Thread(target=scheduler)
        thread.start()
        deadline = time.monotonic() + 60
        while not relay.requests and time.monotonic() < deadline:
            time.sleep(0.02)
        assert relay.requests, "the scheduler never asked the relay"
        # While the relay is slow (and the BLS check after it), the draw's row is free...
        with transaction.atomic():
            Draw.objects.select_for_update(nowait=True).get(pk=draw.pk)
        # ...and a second scheduler leaves the draw to the first one (no second fetch).
        assert perform_due_draws() == []
        thread.join(timeout=120)
        assert len(relay.requests) == 1
    assert result["performed"] == [draw.pk]
    draw.refresh_from_db()
    assert draw.is_performed and draw.beacon_randomness == QUICKNET_ROUNDS[3].randomness
    assert Winner.objects.filter(draw=draw).count() == 0  # no entries: nobody to pick


@pytest.mark.django_db
def test_the_admin_cannot_delete_a_draw_once_its_entries_are_frozen(beacon_settings,
                                                                    superuser_browser):
    open_draw = make_draw(title="Still open")
    frozen = make_draw(title="Awaiting")
    make_entrants(frozen, 3)
    frozen = draw_perform(draw=frozen, actor=None, source="test")
    assert frozen.status == Draw.Status.AWAITING_BEACON
    # Deleting it after its round is out would let the operator re-roll a disliked outcome.
    assert superuser_browser.get(f"/admin/live/draw/{frozen.pk}/delete/").status_code == 403
    superuser_browser.post("/admin/live/draw/", {"action": "delete_selected",
                                                 "_selected_action": [frozen.pk],
                                                 "post": "yes"})
    assert Draw.objects.filter(pk=frozen.pk).exists()
    assert superuser_browser.get(f"/admin/live/draw/{open_draw.pk}/delete/").status_code == 200


def test_the_verifier_cli_fails_a_malformed_fallback_cleanly(tmp_path, capsys):
    seed = "22" * 32
    proof = {"draw_id": 1, "kind": "raffle", "algorithm": "tombola-beacon-v2",
             "seed": seed, "seed_commitment": fairness.commitment(seed),
             "entries": [], "entries_count": 0,
             "entries_digest": fairness.digest_lines([])[0], "winners": [], "prizes": [],
             "beacon": {"chain": QUICKNET.as_dict(), "round": 5, "fallback": "yes, trust me"}}
    path = tmp_path / "proof.json"
    path.write_text(json.dumps(proof))
    assert verify_main([str(path)]) == 1  # not a traceback
    assert "FAILED: the beacon fallback is not an object" in capsys.readouterr().out


@pytest.mark.django_db
def test_the_draw_stream_carries_the_round_a_close_fixes_and_the_beacon_used(beacon_settings):
    draw = make_draw()  # no close time: its round is fixed when entries close
    make_entrants(draw, 5)
    assert draw.beacon_round is None
    # Snapshot + deltas must equal a fresh snapshot: watchers see the round the close fixed...
    deltas = verify_action(kind="draw", object_id=draw.pk,
                           action=lambda: draw_close_entries(draw=draw))
    draw.refresh_from_db()
    assert deltas[-1]["data"]["beacon"]["round"] == draw.beacon_round is not None
    draw = draw_perform(draw=draw, actor=None, source="test")
    assert draw.status == Draw.Status.AWAITING_BEACON
    beacon_settings.BEACON_FALLBACK_AFTER_SECONDS = 0
    time.sleep(max(0.0, drand.Chain.from_dict(draw.beacon_chain).round_time(draw.beacon_round)
                   - time.time()) + 0.05)
    # ...and what the draw was performed with (here: the recorded staff fallback).
    deltas = verify_action(kind="draw", object_id=draw.pk, action=lambda: draw_perform(
        draw=draw, actor=None, source="test", beacon_fallback="relays down"))
    assert deltas[-1]["data"]["beacon"]["fallback"]["reason"] == "relays down"


@pytest.mark.django_db
def test_a_draw_waiting_for_a_round_hours_away_is_not_retried_until_it_is_due(
        beacon_settings):
    draw = make_draw(entries_close_at=timezone.now() + timedelta(hours=2))
    draw = draw_perform(draw=draw, actor=None, source="test")  # by hand, two hours early
    assert draw.status == Draw.Status.AWAITING_BEACON and draw.beacon_attempts == 1
    # BEACON_RETRY_SECONDS is 0 here: without a due time every tick would retry it and
    # publish draw.awaiting_beacon again (720 times an hour at the default 5 s).
    deltas = verify_action(kind="draw", object_id=draw.pk, action=perform_due_draws)
    assert deltas == []
    draw.refresh_from_db()
    assert draw.beacon_attempts == 1
    round_at = drand.Chain.from_dict(draw.beacon_chain).round_time(draw.beacon_round)
    assert perform_due_draws(now=timezone.now() + timedelta(seconds=round_at - time.time() + 1)) \
        == [] and Draw.objects.get(pk=draw.pk).beacon_attempts == 2  # retried once due
