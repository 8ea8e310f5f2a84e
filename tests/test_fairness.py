import json
import subprocess
import sys
from collections import Counter

import pytest

from live import fairness
from live.models import Draw
from live.selectors import entries_digest
from live.verify import ProofMismatch, verify_proof
from tests.factories import draw_url, make_draw, make_entrants
from tests.servers import ROOT

SEED = "11" * 32
DIGEST = "22" * 32


def test_commitment_is_sha256_of_seed_bytes():
    import hashlib

    assert fairness.commitment(SEED) == hashlib.sha256(bytes.fromhex(SEED)).hexdigest()


def test_new_seed_is_32_random_bytes():
    seeds = {fairness.new_seed() for _ in range(50)}
    assert len(seeds) == 50 and all(len(bytes.fromhex(s)) == 32 for s in seeds)


def test_picks_are_distinct_deterministic_and_prefix_stable():
    picks = fairness.pick_indices(SEED, DIGEST, 10, 10)
    assert sorted(picks) == list(range(10))
    assert fairness.pick_indices(SEED, DIGEST, 10, 4) == picks[:4]
    assert fairness.pick_indices("33" * 32, DIGEST, 10, 10) != picks


def test_rejection_sampling_rejects_the_biased_tail():
    n = 3 * 2**62  # floor(2**64 / n) * n == n: values >= n are rejected
    stream = iter([n + 5, 2**64 - 1, 7])
    assert fairness.uniform(stream, n) == 7


def test_picks_are_roughly_uniform():
    counts = Counter(fairness.pick_indices(fairness.new_seed(), DIGEST, 5, 1)[0]
                     for _ in range(5000))
    assert set(counts) == set(range(5)) and min(counts.values()) > 850


def test_winning_numbers_are_k_distinct_in_range():
    numbers = fairness.winning_numbers(SEED, DIGEST, 6, 49)
    assert len(set(numbers)) == 6 and all(1 <= n <= 49 for n in numbers)
    assert numbers == sorted(numbers)


@pytest.mark.django_db
def test_database_digest_matches_python_digest():
    draw = make_draw()
    make_entrants(draw, 25)
    lines = [str(i) for i in draw.entries.order_by("position").values_list("id", flat=True)]
    assert entries_digest(draw) == fairness.digest_lines(lines)


@pytest.mark.django_db
def test_empty_draw_digest_is_sha256_of_nothing():
    assert entries_digest(make_draw()) == (fairness.digest_lines([])[0], 0)


@pytest.fixture
def proof(db, staff_api):
    draw = make_draw(prizes=[{"name": "A", "rank": 1, "quantity": 2},
                             {"name": "B", "rank": 2}])
    make_entrants(draw, 30)
    staff_api.post(draw_url(draw, "perform"))
    return staff_api.get(draw_url(draw, "proof")).json()


def test_proof_of_performed_raffle_verifies(proof):
    assert proof["seed"] and proof["entries_count"] == 30 and len(proof["entries"]) == 30
    assert len(proof["winners"]) == 3
    assert verify_proof(proof).startswith("OK")


def test_proof_has_no_personal_data(proof):
    text = json.dumps(proof)
    assert "@example.com" not in text and "user" not in text


@pytest.mark.parametrize("tamper", ["seed", "drop_entry", "swap_entries", "winner", "commitment"])
def test_tampered_proof_fails(proof, tamper):
    if tamper == "seed":
        proof["seed"] = "00" * 32
    elif tamper == "drop_entry":
        proof["entries"].pop()
    elif tamper == "swap_entries":
        proof["entries"][0], proof["entries"][1] = proof["entries"][1], proof["entries"][0]
    elif tamper == "winner":
        proof["winners"][0]["entry_id"] = int(proof["entries"][-1]) + 1
    elif tamper == "commitment":
        proof["seed_commitment"] = fairness.commitment("00" * 32)
    with pytest.raises(ProofMismatch):
        verify_proof(proof)


def test_tampered_entries_with_matching_count_fail_on_digest(proof):
    proof["entries"][3] = str(int(proof["entries"][3]) + 100000)
    with pytest.raises(ProofMismatch, match="digest"):
        verify_proof(proof)


@pytest.mark.django_db
def test_proof_before_perform_hides_seed(api):
    draw = make_draw()
    body = api.get(draw_url(draw, "proof")).json()
    assert body["seed"] is None and body["entries"] is None
    assert body["seed_commitment"] == Draw.objects.get().seed_commitment


def _cli(tmp_path, proof):
    path = tmp_path / "proof.json"
    path.write_text(json.dumps(proof))
    return subprocess.run([sys.executable, "-m", "live.verify", str(path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


def test_verifier_cli_accepts_real_proof(tmp_path, proof):
    result = _cli(tmp_path, proof)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("OK")


def test_verifier_cli_rejects_tampered_seed(tmp_path, proof):
    proof["seed"] = "ab" * 32
    result = _cli(tmp_path, proof)
    assert result.returncode == 1 and "commitment" in result.stdout


def test_verifier_cli_rejects_unreadable_file(tmp_path):
    (tmp_path / "proof.json").write_text("{not json")
    result = subprocess.run([sys.executable, "-m", "live.verify", str(tmp_path / "proof.json")],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "unreadable" in result.stdout


@pytest.mark.django_db
def test_external_draw_has_no_proof(api):
    response = api.get(draw_url(make_draw(kind="external"), "proof"))
    assert response.status_code == 404 and response.json()["code"] == "no_proof"


@pytest.mark.django_db
def test_winners_are_found_when_positions_have_a_gap(staff_api):
    draw = make_draw(prizes=[{"name": "A", "rank": 1, "quantity": 3}])
    make_entrants(draw, 8)
    draw.entries.order_by("position")[2].delete()  # a deleted account leaves a gap
    Draw.objects.filter(pk=draw.pk).update(entries_count=7)
    staff_api.post(draw_url(draw, "perform"))
    proof = staff_api.get(draw_url(draw, "proof")).json()
    assert proof["entries_count"] == 7 and len(proof["winners"]) == 3
    assert verify_proof(proof).startswith("OK")
