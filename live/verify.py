"""Standalone verifier: recompute a draw's winners from its proof alone.

    python -m live.verify proof.json      # exit 0 and "OK ..." or exit 1 and the reason

The proof is what ``GET /api/events/{id}/draws/{draw_id}/proof/`` answers. No
database, no Django: only live/fairness.py and, for tombola-beacon-v2, live/beacon.py
(the drand round's BLS signature against the chain's public key, and that the round was
published after entries closed). docs/fairness.md is the format.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import Any

from live import beacon as drand
from live.fairness import (
    ALGORITHM_BEACON,
    ALGORITHMS,
    commitment,
    digest_lines,
    pick_indices,
    winning_numbers,
)


# Not in live/errors.py: the verifier runs without Django, and live/errors.py needs it.
class ProofMismatch(Exception):
    pass


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ProofMismatch(message)


def _parse(line: str) -> tuple[int, str]:
    entry_id, _, numbers = line.partition(":")
    return int(entry_id), numbers


def _unix(value: Any) -> float | None:
    if value in (None, ""):
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()


def verify_beacon(proof: dict[str, Any]) -> tuple[str, str]:
    """(beacon randomness hex, what was checked) for a tombola-beacon-v2 proof.

    The round must be published strictly after entries closed and after the scheduled
    time (so nobody could know it while entries could change), its BLS signature must
    verify against the chain's public key, and its randomness must be sha256(signature).
    A staff fallback (no round used) verifies with an empty randomness and says so."""
    section = proof.get("beacon")
    _check(isinstance(section, dict), "a tombola-beacon-v2 proof has no beacon section")
    try:
        chain = drand.Chain.from_dict(section["chain"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ProofMismatch(f"the beacon chain is unreadable ({exc})") from None
    fallback = section.get("fallback")
    if fallback:
        _check(isinstance(fallback, dict), "the beacon fallback is not an object")
        _check(not section.get("randomness"), "a fallback draw carries no beacon randomness")
        return "", (f"WITHOUT the beacon: staff fallback by {fallback.get('by')} after "
                    f"{fallback.get('waited_seconds')} s ({fallback.get('reason')})")
    name = drand.known_chain(chain)
    known = {c.hash: c for c in drand.KNOWN_CHAINS.values()}.get(chain.hash)
    _check(known is None or known == chain,
           "the beacon chain's key, period or genesis differ from the published chain")
    round_ = section.get("round")
    _check(isinstance(round_, int) and round_ > 0, "the beacon round is missing")
    _check(section.get("round_at") == chain.round_time(round_),
           "the beacon round's time does not follow from the chain")
    closed = _unix(proof.get("closed_at"))
    _check(closed is not None, "the proof does not say when entries closed")
    for label, value in (("entries closed", closed),
                         ("the entries' closing time", _unix(proof.get("entries_close_at"))),
                         ("the scheduled time", _unix(proof.get("scheduled_at")))):
        _check(value is None or chain.round_time(round_) > value,
               f"the beacon round {round_} was published before {label}")
    beacon = drand.Beacon(round=round_, randomness=str(section.get("randomness") or ""),
                          signature=str(section.get("signature") or ""),
                          previous_signature=str(section.get("previous_signature") or ""))
    try:
        drand.verify(chain, beacon, round_=round_)
    except drand.BeaconInvalid as exc:
        raise ProofMismatch(f"beacon signature check failed: {exc}") from None
    where = f"drand {name}" if name else f"chain {chain.hash[:16]}... (not a built-in chain)"
    return beacon.randomness, f"beacon round {round_} of {where} verified"


def verify_proof(proof: dict[str, Any]) -> str:
    """Return a one-line summary, or raise ProofMismatch saying what does not add up."""
    algorithm = proof.get("algorithm")
    _check(algorithm in ALGORITHMS, f"unknown algorithm {algorithm!r}")
    seed = proof.get("seed")
    _check(bool(seed), "the seed is not revealed yet (draw not performed)")
    _check(commitment(seed) == proof["seed_commitment"], "seed does not match its commitment")
    lines = proof["entries"]
    digest, count = digest_lines(lines)
    _check(count == proof["entries_count"], "entry count does not match")
    _check(digest == proof["entries_digest"], "entry list does not match its digest")
    entries = [_parse(line) for line in lines]
    beacon, beacon_note = "", ""
    if algorithm == ALGORITHM_BEACON:
        beacon, beacon_note = verify_beacon(proof)
    winners = proof["winners"]
    lottery = proof.get("lottery")

    if proof["kind"] == "raffle":
        picked = sorted((w for w in winners if w.get("pick") is not None), key=lambda w: w["pick"])
        _check([w["pick"] for w in picked] == list(range(len(picked))), "pick sequence has gaps")
        indices = pick_indices(seed, digest, count, len(picked), beacon)
        expected = [entries[i][0] for i in indices]
        _check(expected == [w["entry_id"] for w in picked], "winners do not follow from seed")
        first_round = [w for w in picked if w.get("round", 0) == 0]
        slots = [p["id"] for p in sorted(proof["prizes"], key=lambda p: p["rank"])
                 for _ in range(p["quantity"])]
        _check([w["prize_id"] for w in first_round] == slots[: len(first_round)],
               "prizes are not assigned in rank order")
    elif proof["kind"] == "lottery" and lottery["mode"] == "single_ballot":
        if not entries:
            _check(not winners, "winners without ballots")
        else:
            index = pick_indices(seed, digest, count, 1, beacon)[0]
            numbers = entries[index][1]
            earliest = next(entry_id for entry_id, nums in entries if nums == numbers)
            _check([w["entry_id"] for w in winners] == [earliest], "winning ballot differs")
            _check(lottery["winning_numbers"] == [int(n) for n in numbers.split(",")],
                   "winning numbers differ from the winning ballot")
    elif proof["kind"] == "lottery":
        drawn = winning_numbers(seed, digest, lottery["numbers_count"], lottery["numbers_max"],
                                beacon)
        _check(drawn == lottery["winning_numbers"], "winning numbers do not follow from seed")
        tiers = {p["matches"]: p["id"] for p in proof["prizes"] if p.get("matches") is not None}
        wanted = set(drawn)
        expected_pairs = set()
        for entry_id, numbers in entries:
            hits = len(wanted.intersection(int(n) for n in numbers.split(",")))
            if hits in tiers:
                expected_pairs.add((entry_id, tiers[hits]))
        _check(expected_pairs == {(w["entry_id"], w["prize_id"]) for w in winners},
               "tier winners do not follow from the winning numbers")
    else:
        raise ProofMismatch(f"draws of kind {proof['kind']!r} have no fairness proof")
    summary = (f"OK: draw {proof.get('draw_id')} with {count} entries, {len(winners)} winners "
               "verified")
    return f"{summary}; {beacon_note}" if beacon_note else summary


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m live.verify proof.json", file=sys.stderr)
        return 2
    try:
        with open(argv[0], encoding="utf-8") as handle:
            proof = json.load(handle)
        print(verify_proof(proof))
        return 0
    except ProofMismatch as exc:
        print(f"FAILED: {exc}")
        return 1
    except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
        print(f"FAILED: unreadable proof ({exc.__class__.__name__}: {exc})")
        return 1


if __name__ == "__main__":
    sys.exit(main())
