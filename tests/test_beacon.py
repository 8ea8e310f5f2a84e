"""tombola-beacon-v2 (issue 19): draws nobody can steer.

Real drand rounds (tests/drand_relay.py) as test vectors for the BLS checks; a real
local HTTP server for the relays (a relay that times out, one serving a wrong signature,
a round not published yet); the target round is after the close in every path.
"""

import hashlib
import json
import logging
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.test import TestCase
from django.utils import timezone

from core import streams
from live import beacon as drand
from live import fairness
from live.models import Draw, Winner
from live.scheduler import perform_due_draws
from live.services.draws import draw_close_entries
from live.services.performing import draw_perform, draw_redraw
from live.verify import ProofMismatch, verify_proof
from tests.conftest import assert_error
from tests.drand_relay import (
    DEFAULT,
    DEFAULT_ROUNDS,
    QUICKNET,
    QUICKNET_ROUNDS,
    TEST_CHAIN_HASH,
    Relay,
    drand_relays,
    moved_chain_info,
)
from tests.factories import draw_url, make_draw, make_entrants
from tests.servers import ROOT
from tests.stream_helpers import verify_action

# --- The BLS checks against the public network's recorded rounds -------------------


@pytest.mark.parametrize("round_", [2, 3])
def test_recorded_quicknet_rounds_verify(round_):
    drand.verify(QUICKNET, QUICKNET_ROUNDS[round_], round_=round_)


@pytest.mark.parametrize("round_", [3, 4])
def test_recorded_default_chain_rounds_verify(round_):
    drand.verify(DEFAULT, DEFAULT_ROUNDS[round_], round_=round_)


def _with_signature(beacon: drand.Beacon, signature: str, **changes) -> drand.Beacon:
    randomness = hashlib.sha256(bytes.fromhex(signature)).hexdigest()
    return drand.Beacon(**{**beacon.as_dict(), "signature": signature,
                           "randomness": randomness, **changes})


@pytest.mark.parametrize("chain,beacon", [(QUICKNET, QUICKNET_ROUNDS[3]),
                                          (DEFAULT, DEFAULT_ROUNDS[4])])
def test_a_tampered_signature_fails_the_pairing_check(chain, beacon):
    sig = bytearray(bytes.fromhex(beacon.signature))
    sig[-1] ^= 0x01  # one bit; randomness recomputed so only the BLS check can catch it
    with pytest.raises(drand.BeaconInvalid, match="BLS signature"):
        drand.verify(chain, _with_signature(beacon, sig.hex()))


def test_a_recorded_signature_presented_as_another_round_fails():
    round_3_as_2 = _with_signature(QUICKNET_ROUNDS[3], QUICKNET_ROUNDS[3].signature, round=2)
    with pytest.raises(drand.BeaconInvalid, match="BLS signature of round 2"):
        drand.verify(QUICKNET, round_3_as_2)
    with pytest.raises(drand.BeaconInvalid, match="not the draw's round 2"):
        drand.verify(QUICKNET, QUICKNET_ROUNDS[3], round_=2)


def test_the_default_chain_binds_the_previous_signature():
    wrong_previous = drand.Beacon(**{**DEFAULT_ROUNDS[4].as_dict(),
                                     "previous_signature": DEFAULT_ROUNDS[4].signature})
    with pytest.raises(drand.BeaconInvalid):
        drand.verify(DEFAULT, wrong_previous)


def test_randomness_must_be_sha256_of_the_signature():
    beacon = drand.Beacon(**{**QUICKNET_ROUNDS[2].as_dict(), "randomness": "00" * 32})
    with pytest.raises(drand.BeaconInvalid, match="sha256"):
        drand.verify(QUICKNET, beacon)


def test_round_after_is_the_first_round_published_strictly_later():
    genesis = QUICKNET.genesis_time
    assert QUICKNET.round_after(genesis - 10) == 1
    assert QUICKNET.round_after(genesis) == 2  # round 1 is published at genesis itself
    assert QUICKNET.round_after(genesis + 2.9) == 2
    assert QUICKNET.round_after(genesis + 3) == 3
    for t in (genesis + 0.5, genesis + 1234.5, time.time()):
        r = QUICKNET.round_after(t)
        assert QUICKNET.round_time(r) > t >= QUICKNET.round_time(r - 1)


# --- Relays: a real local HTTP server ------------------------------------------------


def _chain_for_round_2() -> drand.Chain:
    return drand.Chain.from_dict({**QUICKNET.as_dict(), "hash": TEST_CHAIN_HASH})


def test_a_timing_out_relay_and_a_wrong_signature_are_skipped_and_logged(caplog):
    chain = _chain_for_round_2()
    with drand_relays(Relay(mode="timeout", delay=2), Relay(mode="wrong_signature"),
                      Relay()) as (slow, forger, good), \
            caplog.at_level(logging.WARNING, logger="live.beacon"):
        beacon = drand.fetch(chain, 2, relays=[slow.url, forger.url, good.url],
                             timeout=0.3, now=time.time())
    assert beacon == QUICKNET_ROUNDS[2]
    assert [len(r.requests) for r in (slow, forger, good)] == [1, 1, 1]
    logged = caplog.text
    assert forger.url in logged and "invalid round 2" in logged
    assert slow.url in logged and "Timeout" in logged


def test_no_valid_relay_means_unavailable_never_a_weaker_answer():
    chain = _chain_for_round_2()
    with drand_relays(Relay(mode="wrong_signature"), Relay(mode="down")) as relays, \
            pytest.raises(drand.BeaconUnavailable) as failed:
        drand.fetch(chain, 2, relays=[r.url for r in relays], timeout=1, now=time.time())
    assert not failed.value.not_yet and "HTTP 500" in str(failed.value)


def test_a_round_whose_time_has_not_come_asks_no_relay():
    chain = QUICKNET
    with drand_relays(Relay()) as (relay,):
        future = chain.round_after(time.time() + 60)
        with pytest.raises(drand.BeaconUnavailable) as failed:
            drand.fetch(chain, future, relays=[relay.url], timeout=1, now=time.time())
    assert failed.value.not_yet and relay.requests == []


# --- Draws ---------------------------------------------------------------------------


@pytest.fixture
def beacon_settings(settings):
    """A beacon configured with relays that are never reached unless a test serves them."""
    settings.BEACON_RELAYS = ["http://127.0.0.1:9"]
    settings.BEACON_CHAIN_INFO = None
    settings.BEACON_CHAIN = "quicknet"
    settings.BEACON_TIMEOUT_SECONDS = 0.5
    settings.BEACON_RETRY_SECONDS = 0
    return settings


def _round_time(draw: Draw) -> float:
    return drand.Chain.from_dict(draw.beacon_chain).round_time(draw.beacon_round)


@pytest.mark.django_db
def test_new_draws_use_v2_when_a_beacon_is_configured_and_v1_otherwise(settings, staff_api):
    make = {"title": "Raffle", "prizes": [{"name": "Bike", "rank": 1}]}
    settings.BEACON_RELAYS = []
    response = staff_api.post(f"/api/events/{make_draw().event_id}/draws/", make,
                              format="json")
    assert response.json()["algorithm"] == fairness.ALGORITHM
    assert_error(staff_api.post(f"/api/events/{response.json()['event_id']}/draws/",
                                {**make, "algorithm": fairness.ALGORITHM_BEACON}, format="json"),
                 400, "beacon_not_configured")
    settings.BEACON_RELAYS = ["http://127.0.0.1:9"]
    close = timezone.now() + timedelta(minutes=5)
    body = staff_api.post(f"/api/events/{response.json()['event_id']}/draws/",
                          {**make, "entries_close_at": close.isoformat()}, format="json").json()
    assert body["algorithm"] == fairness.ALGORITHM_BEACON
    assert body["beacon"]["chain_hash"] == QUICKNET.hash
    # Fixed at commit: the first quicknet round published after entries close.
    assert body["beacon"]["round"] == QUICKNET.round_after(close.timestamp())
    v1 = staff_api.post(f"/api/events/{body['event_id']}/draws/",
                        {**make, "algorithm": fairness.ALGORITHM}, format="json").json()
    assert v1["algorithm"] == fairness.ALGORITHM and v1["beacon"] is None


@pytest.mark.django_db
def test_scheduled_path_round_is_after_close_and_after_the_scheduled_time(beacon_settings):
    scheduled = timezone.now() + timedelta(minutes=10)
    draw = make_draw(scheduled_at=scheduled, entries_close_at=scheduled - timedelta(minutes=2))
    assert _round_time(draw) > scheduled.timestamp()  # after both, not just the close
    committed = draw.beacon_round
    make_entrants(draw, 5)  # entries added after the commit, before closing
    Draw.objects.filter(pk=draw.pk).update(scheduled_at=timezone.now())
    # Due now: the scheduler closes (well before the committed round) and waits, on the
    # draw's stream too.
    deltas = verify_action(kind="draw", object_id=draw.pk, action=perform_due_draws)
    assert [m["type"] for m in deltas] == ["draw.closing", "draw.awaiting_beacon"]
    draw.refresh_from_db()
    assert draw.status == Draw.Status.AWAITING_BEACON
    assert draw.beacon_round == committed and _round_time(draw) > draw.closed_at.timestamp()
    assert draw.beacon_attempts == 1 and "published at" in draw.beacon_last_error


@pytest.mark.django_db
def test_moving_the_schedule_moves_the_committed_round_with_it(beacon_settings, staff_api):
    draw = make_draw(scheduled_at=timezone.now() + timedelta(minutes=5))
    later = timezone.now() + timedelta(hours=2)
    body = staff_api.patch(draw_url(draw), {"scheduled_at": later.isoformat()},
                           format="json").json()
    assert body["beacon"]["round"] == QUICKNET.round_after(later.timestamp())


@pytest.mark.django_db
def test_a_late_close_moves_the_round_after_it_never_earlier(beacon_settings):
    draw = make_draw(entries_close_at=timezone.now() + timedelta(seconds=30))
    committed = draw.beacon_round
    # As if committed long ago and the scheduler was down when entries should have closed.
    Draw.objects.filter(pk=draw.pk).update(beacon_round=committed - 100,
                                           entries_close_at=timezone.now() - timedelta(minutes=1))
    draw_close_entries(draw=draw)
    draw.refresh_from_db()
    assert draw.beacon_round > committed - 100
    assert _round_time(draw) > draw.closed_at.timestamp()
    assert drand.Chain.from_dict(draw.beacon_chain).round_time(draw.beacon_round - 1) \
        <= draw.closed_at.timestamp()  # the first such round, not any later one


@pytest.mark.django_db
def test_manual_perform_waits_on_its_stream_then_the_scheduler_performs(beacon_settings,
                                                                       staff_api):
    beacon_settings.BEACON_CHAIN_INFO = moved_chain_info(round_=3, after=time.time())
    draw = make_draw(prizes=[{"name": "Bike", "rank": 1, "quantity": 2}])
    assert draw.beacon_round is None  # no close time known: fixed when entries close
    make_entrants(draw, 12)
    with drand_relays(Relay(published=set())) as (relay,):
        beacon_settings.BEACON_RELAYS = [relay.url]
        responses = []
        deltas = verify_action(kind="draw", object_id=draw.pk, action=lambda: responses.append(
            staff_api.post(draw_url(draw, "perform"), {}, format="json")))
        assert responses[0].status_code == 202
        state = responses[0].json()
        assert state["status"] == "awaiting_beacon" and state["beacon"]["round"] == 3
        assert state["seed"] is None and state["winners"] == []
        types = [m["type"] for m in deltas]
        assert types == ["draw.closing", "draw.awaiting_beacon"]
        assert deltas[-1]["data"]["beacon"]["attempts"] == 1
        draw.refresh_from_db()
        assert _round_time(draw) > draw.closed_at.timestamp()
        assert relay.requests == []  # the round's time had not come: nobody was asked

        time.sleep(max(0.0, _round_time(draw) - time.time()) + 0.05)
        assert perform_due_draws() == []  # its time came, but the relay lags behind
        draw.refresh_from_db()
        assert draw.status == Draw.Status.AWAITING_BEACON and draw.beacon_attempts == 2
        assert "not published yet" in draw.beacon_last_error and len(relay.requests) == 1

        relay.published = {3}
        assert perform_due_draws() == [draw.pk]
    draw.refresh_from_db()
    assert draw.is_performed and draw.beacon_randomness == QUICKNET_ROUNDS[3].randomness
    proof = staff_api.get(draw_url(draw, "proof")).json()
    assert proof["beacon"]["signature"] == QUICKNET_ROUNDS[3].signature
    assert (f"beacon round 3 of chain {TEST_CHAIN_HASH[:16]}... (not a built-in chain) verified"
            in verify_proof(proof))


def _performed_v2_draw(settings, *, entrants=10, quantity=2, kind=Draw.Kind.RAFFLE) -> Draw:
    """A v2 draw performed with the recorded quicknet round 3 (closed ~1 s before it)."""
    settings.BEACON_CHAIN_INFO = moved_chain_info(round_=3, after=time.time())
    fields = {"numbers_count": 2, "numbers_max": 6} if kind == Draw.Kind.LOTTERY else {}
    draw = make_draw(kind=kind, prizes=[{"name": "Bike", "rank": 1, "quantity": quantity,
                                          **({"matches": 1} if fields else {})}], **fields)
    if kind == Draw.Kind.RAFFLE:
        make_entrants(draw, entrants)
    with drand_relays(Relay()) as (relay,):
        settings.BEACON_RELAYS = [relay.url]
        draw = draw_perform(draw=draw, actor=None, source="test")
        assert draw.status == Draw.Status.AWAITING_BEACON
        time.sleep(max(0.0, _round_time(draw) - time.time()) + 0.05)
        draw = draw_perform(draw=draw, actor=None, source="test")
    assert draw.is_performed
    return draw


@pytest.mark.django_db
def test_the_operator_who_knows_the_seed_cannot_predict_the_winners(beacon_settings, api):
    draw = _performed_v2_draw(beacon_settings, entrants=20)
    proof = api.get(draw_url(draw, "proof")).json()
    # What the operator could compute while entries were open: seed + entries, no beacon;
    # the whole pick order (20 entries), which two orders share by chance once in 20!
    # (the first two picks alone would coincide once in 380 runs).
    everyone = draw.entries_count
    simulated = fairness.pick_indices(draw.seed, draw.entries_digest, everyone, everyone)
    actual = fairness.pick_indices(draw.seed, draw.entries_digest, everyone, everyone,
                                   draw.beacon_randomness)
    entries = [int(line) for line in proof["entries"]]
    winners = [w["entry_id"] for w in sorted(proof["winners"], key=lambda w: w["pick"])]
    assert winners == [entries[i] for i in actual[:2]] and simulated != actual
    # ...and the randomness that decided came from a round published after entries closed.
    assert proof["beacon"]["round_at"] > draw.closed_at.timestamp()
    verify_proof(proof)


@pytest.mark.django_db
def test_redraw_continues_the_beacon_stream_and_its_round_stays_after_the_close(
        beacon_settings, api):
    draw = _performed_v2_draw(beacon_settings, entrants=8, quantity=1)
    Winner.objects.filter(draw=draw).update(claim_deadline=timezone.now() - timedelta(seconds=1))
    with TestCase.captureOnCommitCallbacks(execute=True):
        replacements = draw_redraw(draw=draw, actor=None, source="test")
    announced = [m for m in streams.history_since(f"draw:{draw.pk}", 0).messages
                 if m["type"] == "draw.winner"]
    # Every winner announcement links the page that recomputes the draw in the browser.
    assert announced and all(m["data"]["verify_url"].endswith(
        f"/app/#/events/{draw.event_id}/draws/{draw.pk}/verify") for m in announced)
    assert len(replacements) == 1 and replacements[0].pick == 1
    proof = api.get(draw_url(draw, "proof")).json()
    assert proof["beacon"]["round_at"] > draw.closed_at.timestamp()
    assert "2 winners verified" in verify_proof(proof)


@pytest.mark.django_db
def test_a_lottery_draws_its_numbers_from_the_beacon_stream(beacon_settings, api):
    draw = _performed_v2_draw(beacon_settings, kind=Draw.Kind.LOTTERY, quantity=1)
    assert draw.winning_numbers == fairness.winning_numbers(
        draw.seed, draw.entries_digest, 2, 6, QUICKNET_ROUNDS[3].randomness)
    verify_proof(api.get(draw_url(draw, "proof")).json())


def _flip(hex_text: str) -> str:
    return hex_text[:-1] + ("0" if hex_text[-1] != "0" else "1")


@pytest.mark.django_db
def test_the_verifier_cli_checks_the_beacon_and_names_what_failed(beacon_settings, api,
                                                                  tmp_path):
    draw = _performed_v2_draw(beacon_settings)
    proof = api.get(draw_url(draw, "proof")).json()

    def run(document) -> subprocess.CompletedProcess:
        path = tmp_path / "proof.json"
        path.write_text(json.dumps(document))
        return subprocess.run([sys.executable, "-m", "live.verify", str(path)], cwd=ROOT,
                              capture_output=True, text=True, timeout=60)

    ok = run(proof)
    assert ok.returncode == 0 and "beacon round 3" in ok.stdout
    forged = {**proof, "beacon": {**proof["beacon"],
                                  "signature": _flip(proof["beacon"]["signature"])}}
    failed = run(forged)
    assert failed.returncode == 1 and "FAILED: beacon signature check failed" in failed.stdout
    early = {**proof, "beacon": {**proof["beacon"], "round": 2,
                                 "round_at": proof["beacon"]["round_at"] - 2}}
    assert "published before entries closed" in run(early).stdout
    other_randomness = {**proof, "beacon": {**proof["beacon"],
                                            **QUICKNET_ROUNDS[2].as_dict(), "round": 3}}
    with pytest.raises(ProofMismatch, match="BLS signature of round 3"):
        verify_proof(other_randomness)


@pytest.mark.django_db
def test_staff_fall_back_only_explicitly_after_the_wait_and_the_proof_says_so(
        beacon_settings, staff_api):
    draw = make_draw()
    make_entrants(draw, 4)
    url = draw_url(draw, "perform")
    assert staff_api.post(url, {}, format="json").status_code == 202
    assert_error(staff_api.post(url, {"beacon_fallback": "relays down"}, format="json"),
                 409, "beacon_fallback_not_allowed")
    beacon_settings.BEACON_FALLBACK_AFTER_SECONDS = 0
    draw.refresh_from_db()  # the clock starts once its round was due (seconds away)
    time.sleep(max(0.0, _round_time(draw) - time.time()) + 0.05)
    response = staff_api.post(url, {"beacon_fallback": "all relays down for an hour"},
                              format="json")
    assert response.status_code == 200 and response.json()["status"] == "performed"
    proof = staff_api.get(draw_url(draw, "proof")).json()
    fallback = proof["beacon"]["fallback"]
    assert fallback["reason"] == "all relays down for an hour"
    assert fallback["by"].startswith("user:") and proof["beacon"]["randomness"] is None
    assert "WITHOUT the beacon: staff fallback" in verify_proof(proof)
    assert_error(staff_api.post(url, {"beacon_fallback": "again"}, format="json"),
                 409, "already_performed")
    beacon_settings.BEACON_RELAYS = []
    v1 = make_draw()
    assert_error(staff_api.post(draw_url(v1, "perform"), {"beacon_fallback": "why not"},
                                format="json"), 409, "beacon_fallback_not_allowed")


@pytest.mark.django_db
def test_v1_draws_still_perform_and_verify_beside_v2(settings, api):
    settings.BEACON_RELAYS = []
    draw = make_draw()
    make_entrants(draw, 6)
    draw_perform(draw=draw, actor=None, source="test")
    proof = api.get(draw_url(draw, "proof")).json()
    assert proof["algorithm"] == fairness.ALGORITHM and proof["beacon"] is None
    verify_proof(proof)


def test_the_documented_vectors_hold():
    """docs/fairness.md, "Test vectors"."""
    import hmac

    seed = "11" * 32
    digest, count = fairness.digest_lines(["101", "102", "103", "104", "105"])
    beacon = QUICKNET_ROUNDS[3].randomness
    assert fairness.commitment(seed) == \
        "02d449a31fbb267c8f352e9968a79e3e5fc95c1bbeaa502fd6454ebde5a4bedc"
    assert digest == "f17256b8930cd0ecc3865335b9482e4f74488c5ae7d102a220ce82215fb79e7d"
    assert drand.message(QUICKNET, QUICKNET_ROUNDS[3]).hex() == \
        "d5688a52d55a02ec4aea5ec1eadfffe1c9e0ee6a4ddbe2377f98326d42dfc975"
    block = hmac.new(bytes.fromhex(seed), bytes.fromhex(digest + beacon) + bytes(8),
                     hashlib.sha256).hexdigest()
    assert block == "4720b185a70df763c4de14440e7ff6d1ac54354bb889b105934f70ca55af0056"
    assert fairness.pick_indices(seed, digest, count, 3, beacon) == [4, 2, 1]
    assert fairness.pick_indices(seed, digest, count, 3) == [2, 3, 0]
    assert fairness.winning_numbers(seed, digest, 3, 10, beacon) == [2, 4, 10]


ROOT_DIR = str(Path(__file__).resolve().parent.parent)


def test_the_bls_library_leaves_the_recursion_limit_alone():
    """py_ecc raises the process's recursion limit to 100,000 when imported; with it a
    deeply nested JSON frame or body overflows the C stack (a dead worker) instead of
    raising RecursionError (an invalid_json answer). A fresh interpreter shows it."""
    checked = subprocess.run([sys.executable, "-c", (
        "import sys; before = sys.getrecursionlimit(); from live import beacon; "
        "beacon._import_py_ecc(); import py_ecc.bls; "
        "print(before, sys.getrecursionlimit(), 'py_ecc' in sys.modules)")],
        capture_output=True, text=True, timeout=60, cwd=ROOT_DIR)
    assert checked.returncode == 0, checked.stderr
    before, after, imported = checked.stdout.split()
    assert imported == "True" and before == after
