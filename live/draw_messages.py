"""The draw stream's payloads: the DRAW, PRIZE and WINNER dicts and each draw message's data.

The ``draw`` and ``event`` stream kinds are in live/streams.py (snapshots, the
publisher, reducers and the registrations); they list the ``draw_*_data`` builders
below as their message builders, and the snapshots carry ``draw_state``. REST
answers with the same dicts (live/views/), so a draw reads the same on both.

DRAW   = {id, event_id, title, kind, status ("open" | "closed" | "awaiting_beacon" |
          "performed"), eligibility, algorithm, beacon: BEACON | null,
          requires_verified_phone, scheduled_at, entries_close_at, claim_window_minutes,
          seed_commitment, seed (null until performed), entries_count, entries_digest,
          closed_at, performed_at, winning_numbers, proof_url,
          lottery: {numbers_count, numbers_max, max_ballots, mode} | null,
          recurrence, prizes: [PRIZE], winners: [WINNER]}
BEACON = {chain_hash, round, round_at, randomness, signature (null until performed),
          waiting_since, attempts, last_error, fallback_allowed_at, fallback}
PRIZE  = {id, name, quantity, rank, matches}
WINNER = {id, prize_id, prize, rank, winner (masked name), entry_id, round,
          claim_deadline, claimed_at, forfeited_at}

Draw message types (``data``; docs/websocket-protocol.md shows each as a client gets it):
- ``draw.created``   {draw_id, draw: DRAW}               DRAW carries the seed commitment.
- ``draw.updated``   {draw_id, draw: DRAW}               staff edited it; replaces the draw.
- ``draw.countdown`` {draw_id, scheduled_at, server_time, seconds_left}
                      every 1 s in the last 60 s, every 10 s before (scheduler).
- ``draw.entries``   {draw_id, count}                    a new entry or ballot.
- ``draw.closing``   {draw_id, status: "closed", entries_count, entries_digest, closed_at,
                      beacon: BEACON | null}  entries frozen into the digest (and the round).
- ``draw.awaiting_beacon`` {draw_id, status: "awaiting_beacon", beacon: BEACON}
                      a tombola-beacon-v2 draw waits for its round (not published yet or
                      no relay reachable); the scheduler retries; sent on each attempt.
- ``draw.started``   {draw_id}                           winners are being drawn.
- ``draw.winner``    {draw_id, prize: PRIZE, winners: [WINNER], proof_url, verify_url}
                      one per prize; verify_url: the app's page that recomputes the draw.
- ``draw.finished``  {draw_id, status: "performed", seed, performed_at, winning_numbers,
                      proof_url, verify_url, beacon: BEACON | null}  the seed is revealed.
- ``draw.claimed``   {draw_id, winner_id, claimed_at}
- ``draw.forfeited`` {draw_id, winner_ids, forfeited_at}  unclaimed after the window (redraw).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TypedDict

from live.beacon import Chain
from live.beacon_config import fallback_allowed_at
from live.models import Draw, Prize, Winner
from live.selectors import proof_url, verify_url

# --- What anyone may see of a person -------------------------------------------


def mask_user(user) -> str:
    if user.first_name:
        initial = f" {user.last_name[:1]}." if user.last_name else ""
        return f"{user.first_name}{initial}"
    local, _, domain = user.email.partition("@")
    return f"{local[:1]}***@{domain}"


def mask_phone(phone: str | None) -> str:
    """"+7*******1234": the first digit and the last four of an E.164 number."""
    if not phone or len(phone) < 7:
        return ""
    return phone[:2] + "*" * (len(phone) - 6) + phone[-4:]


# --- The objects snapshots and messages carry --------------------------------


class PrizeState(TypedDict):
    id: int
    name: str
    quantity: int
    rank: int
    matches: int | None


class WinnerState(TypedDict):
    id: int
    prize_id: int
    prize: str
    rank: int
    winner: str  # masked name
    entry_id: int | None
    round: int
    claim_deadline: datetime
    claimed_at: datetime | None
    forfeited_at: datetime | None


class LotteryState(TypedDict):
    numbers_count: int | None
    numbers_max: int | None
    max_ballots: int | None
    mode: str


class BeaconState(TypedDict):
    chain_hash: str
    round: int | None
    round_at: datetime | None
    randomness: str | None
    signature: str | None
    waiting_since: datetime | None
    attempts: int
    last_error: str
    fallback_allowed_at: datetime | None
    fallback: dict | None


class DrawState(TypedDict):
    id: int
    event_id: int
    title: str
    kind: str
    status: str
    eligibility: str
    algorithm: str
    beacon: BeaconState | None
    requires_verified_phone: bool
    scheduled_at: datetime | None
    entries_close_at: datetime | None
    claim_window_minutes: int
    seed_commitment: str
    seed: str | None
    entries_count: int
    entries_digest: str | None
    closed_at: datetime | None
    performed_at: datetime | None
    winning_numbers: list[int] | None
    proof_url: str
    lottery: LotteryState | None
    recurrence: str
    prizes: list[PrizeState]
    winners: list[WinnerState]


def prize_state(prize: Prize) -> PrizeState:
    return {"id": prize.pk, "name": prize.name, "quantity": prize.quantity, "rank": prize.rank,
            "matches": prize.matches}


def winner_state(winner: Winner) -> WinnerState:
    return {
        "id": winner.pk, "prize_id": winner.prize_id, "prize": winner.prize.name,
        "rank": winner.prize.rank, "winner": mask_user(winner.user), "entry_id": winner.entry_id,
        "round": winner.round, "claim_deadline": winner.claim_deadline,
        "claimed_at": winner.claimed_at, "forfeited_at": winner.forfeited_at,
    }


def beacon_state(draw: Draw) -> BeaconState | None:
    """The draw's beacon round and its wait (None for a draw without a beacon)."""
    chain = draw.beacon_chain
    if not chain:
        return None
    round_at = None
    if draw.beacon_round:
        round_at = datetime.fromtimestamp(
            Chain.from_dict(chain).round_time(draw.beacon_round), UTC)
    fallback_at = fallback_allowed_at(draw)
    return {"chain_hash": chain["hash"], "round": draw.beacon_round, "round_at": round_at,
            "randomness": draw.beacon_randomness or None,
            "signature": draw.beacon_signature or None,
            "waiting_since": draw.beacon_waiting_since, "attempts": draw.beacon_attempts,
            "last_error": draw.beacon_last_error, "fallback_allowed_at": fallback_at,
            "fallback": draw.beacon_fallback}


def draw_state(draw: Draw) -> DrawState:
    lottery = None
    if draw.kind == Draw.Kind.LOTTERY:
        lottery = {"numbers_count": draw.numbers_count, "numbers_max": draw.numbers_max,
                   "max_ballots": draw.max_ballots, "mode": draw.lottery_mode}
    return {
        "id": draw.pk, "event_id": draw.event_id, "title": draw.title, "kind": draw.kind,
        "status": draw.status, "eligibility": draw.eligibility,
        "algorithm": draw.algorithm, "beacon": beacon_state(draw),
        "requires_verified_phone": draw.requires_verified_phone,
        "scheduled_at": draw.scheduled_at, "entries_close_at": draw.entries_close_at,
        "claim_window_minutes": draw.claim_window_minutes,
        "seed_commitment": draw.seed_commitment,
        "seed": draw.seed if draw.is_performed else None,
        "entries_count": draw.entries_count, "entries_digest": draw.entries_digest or None,
        "closed_at": draw.closed_at, "performed_at": draw.performed_at,
        "winning_numbers": draw.winning_numbers, "proof_url": proof_url(draw),
        "lottery": lottery, "recurrence": draw.recurrence,
        "prizes": [prize_state(p) for p in draw.prizes.all()],
        "winners": [winner_state(w) for w in sorted(draw.winners.all(), key=lambda w: w.pk)],
    }


# --- Message builders: each draw message type's data ---------------------------


class DrawReplaced(TypedDict):  # draw.created, draw.updated
    draw_id: int
    draw: DrawState


class DrawCountdown(TypedDict):
    draw_id: int
    scheduled_at: datetime
    server_time: datetime
    seconds_left: int


class DrawEntries(TypedDict):
    draw_id: int
    count: int


class DrawClosing(TypedDict):
    draw_id: int
    status: str
    entries_count: int
    entries_digest: str
    closed_at: datetime
    beacon: BeaconState | None


class DrawStarted(TypedDict):
    draw_id: int


class DrawWinner(TypedDict):
    draw_id: int
    prize: PrizeState
    winners: list[WinnerState]
    proof_url: str
    verify_url: str


class DrawFinished(TypedDict):
    draw_id: int
    status: str
    seed: str
    performed_at: datetime
    winning_numbers: list[int] | None
    proof_url: str
    verify_url: str
    beacon: BeaconState | None


class DrawClaimed(TypedDict):
    draw_id: int
    winner_id: int
    claimed_at: datetime


class DrawForfeited(TypedDict):
    draw_id: int
    winner_ids: list[int]
    forfeited_at: datetime


def draw_replaced_data(draw: Draw) -> DrawReplaced:
    """``draw.created`` (with the seed commitment) and ``draw.updated`` (staff edit)."""
    return {"draw_id": draw.pk, "draw": draw_state(draw)}


def draw_countdown_data(draw: Draw, *, server_time: datetime, seconds_left: int) -> DrawCountdown:
    return {"draw_id": draw.pk, "scheduled_at": draw.scheduled_at, "server_time": server_time,
            "seconds_left": seconds_left}


def draw_entries_data(draw: Draw) -> DrawEntries:
    return {"draw_id": draw.pk, "count": draw.entries_count}


def draw_closing_data(draw: Draw) -> DrawClosing:
    # The beacon too: closing fixes the draw's round for good (it moves after a late close,
    # and a draw without a close time gets it only now), which watchers must see.
    return {"draw_id": draw.pk, "status": draw.status, "entries_count": draw.entries_count,
            "entries_digest": draw.entries_digest, "closed_at": draw.closed_at,
            "beacon": beacon_state(draw)}


class DrawAwaitingBeacon(TypedDict):
    draw_id: int
    status: str
    beacon: BeaconState | None


def draw_awaiting_beacon_data(draw: Draw) -> DrawAwaitingBeacon:
    return {"draw_id": draw.pk, "status": draw.status, "beacon": beacon_state(draw)}


def draw_started_data(draw: Draw) -> DrawStarted:
    return {"draw_id": draw.pk}


def draw_winner_data(draw: Draw, *, prize: Prize, winners: list[Winner]) -> DrawWinner:
    return {"draw_id": draw.pk, "prize": prize_state(prize),
            "winners": [winner_state(w) for w in winners], "proof_url": proof_url(draw),
            "verify_url": verify_url(draw)}


def draw_finished_data(draw: Draw) -> DrawFinished:
    return {"draw_id": draw.pk, "status": draw.status, "seed": draw.seed,
            "performed_at": draw.performed_at, "winning_numbers": draw.winning_numbers,
            "proof_url": proof_url(draw), "verify_url": verify_url(draw),
            "beacon": beacon_state(draw)}  # the round's randomness and signature, or the fallback


def draw_claimed_data(winner: Winner) -> DrawClaimed:
    return {"draw_id": winner.draw_id, "winner_id": winner.pk, "claimed_at": winner.claimed_at}


def draw_forfeited_data(draw: Draw, *, winners: list[Winner],
                        forfeited_at: datetime) -> DrawForfeited:
    return {"draw_id": draw.pk, "winner_ids": [w.pk for w in winners],
            "forfeited_at": forfeited_at}
