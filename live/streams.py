"""The live side of the realtime contract: the ``event`` and ``draw`` stream kinds
(EVENT_KIND, DRAW_KIND, registered in live/apps.py), each one unit of snapshot,
message builders (``*_data``) and reducer (``apply_event_message``,
``apply_draw_message``: how a client applies a message to its snapshot).

Streams
-------
``event:<id>``  snapshot ``{"event": EVENT, "draws": [DRAW, ...], "server_time",
                "checkin": {"code", "valid_until"} (venue screens only, else absent)}``
``draw:<id>``   snapshot ``{"draw": DRAW, "server_time"}``
``screen:<event_id>``  only ``checkin.code`` messages (venue screens).

Every draw message below is published on both ``draw:<id>`` and ``event:<event_id>``
with the same data; each carries ``draw_id``.

EVENT = {id, title, description, starts_at, ends_at, status, venue_id, time_zone,
         checkin_code_required}   (core/event_messages.py: core publishes event.updated)
DRAW  = {id, event_id, title, kind, status ("open" | "closed" | "performed"), eligibility,
         requires_verified_phone, scheduled_at, entries_close_at, claim_window_minutes,
         seed_commitment, seed (null until performed), entries_count, entries_digest,
         closed_at, performed_at, winning_numbers, proof_url,
         lottery: {numbers_count, numbers_max, max_ballots, mode} | null,
         recurrence, prizes: [PRIZE], winners: [WINNER]}
PRIZE  = {id, name, quantity, rank, matches}
WINNER = {id, prize_id, prize, rank, winner (masked name), entry_id, round,
          claim_deadline, claimed_at, forfeited_at}

Message types (``data``):
- ``event.updated``  {event: EVENT}                      replaces the event.
- ``draw.created``   {draw_id, draw: DRAW}               DRAW carries the seed commitment.
- ``draw.updated``   {draw_id, draw: DRAW}               staff edited it; replaces the draw.
- ``draw.countdown`` {draw_id, scheduled_at, server_time, seconds_left}
                      every 1 s in the last 60 s, every 10 s before (scheduler).
- ``draw.entries``   {draw_id, count}                    a new entry or ballot.
- ``draw.closing``   {draw_id, status: "closed", entries_count, entries_digest, closed_at}
                      entries frozen into the digest.
- ``draw.started``   {draw_id}                           winners are being drawn.
- ``draw.winner``    {draw_id, prize: PRIZE, winners: [WINNER], proof_url}  one per prize.
- ``draw.finished``  {draw_id, status: "performed", seed, performed_at, winning_numbers,
                      proof_url}                          the seed is revealed.
- ``draw.claimed``   {draw_id, winner_id, claimed_at}
- ``draw.forfeited`` {draw_id, winner_ids, forfeited_at}  unclaimed after the window (redraw).
- ``checkin.code``   {event_id, code, valid_until}        on ``screen:<event_id>`` each window.

``server_time`` differs between any two snapshots; compare snapshots without it.
"""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any, NotRequired, TypedDict

from django.utils import timezone

from core.errors import UnknownMessageType
from core.event_messages import EventState, event_state, event_stream, event_updated_data
from core.selectors.events import visible_events
from core.streams import (
    MessageBuilder,
    StreamKind,
    StreamMessage,
    Viewer,
    publish_on_commit,
)
from live import checkin
from live.models import Draw, Prize, Winner
from live.selectors import draws_with_state, proof_url, screen_key_valid


def draw_stream(draw_id: int) -> str:
    return f"draw:{draw_id}"


def screen_stream(event_id: int) -> str:
    return f"screen:{event_id}"


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


class DrawState(TypedDict):
    id: int
    event_id: int
    title: str
    kind: str
    status: str
    eligibility: str
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


def draw_state(draw: Draw) -> DrawState:
    lottery = None
    if draw.kind == Draw.Kind.LOTTERY:
        lottery = {"numbers_count": draw.numbers_count, "numbers_max": draw.numbers_max,
                   "max_ballots": draw.max_ballots, "mode": draw.lottery_mode}
    return {
        "id": draw.pk, "event_id": draw.event_id, "title": draw.title, "kind": draw.kind,
        "status": draw.status, "eligibility": draw.eligibility,
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


# --- Snapshots ----------------------------------------------------------------


class EventSnapshot(TypedDict):
    event: EventState
    draws: list[DrawState]
    server_time: datetime
    checkin: NotRequired[dict[str, Any]]  # {code, valid_until}: venue screens only


class DrawSnapshot(TypedDict):
    draw: DrawState
    server_time: datetime


def event_snapshot(object_id: int, viewer: Viewer) -> EventSnapshot | None:
    user = getattr(viewer, "user", None)
    event = visible_events(user).filter(pk=object_id).first()
    if event is None:
        return None
    draws = draws_with_state().filter(event_id=event.pk).order_by("id")
    snapshot: EventSnapshot = {"event": event_state(event),
                               "draws": [draw_state(d) for d in draws],
                               "server_time": timezone.now()}
    if getattr(viewer, "screen", False):
        snapshot["checkin"] = checkin.current_code(event)
    return snapshot


def draw_snapshot(object_id: int, viewer: Viewer) -> DrawSnapshot | None:
    user = getattr(viewer, "user", None)
    visible = visible_events(user).values("pk")
    draw = draws_with_state().filter(pk=object_id, event_id__in=visible).first()
    if draw is None:
        return None
    return {"draw": draw_state(draw), "server_time": timezone.now()}


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


class DrawStarted(TypedDict):
    draw_id: int


class DrawWinner(TypedDict):
    draw_id: int
    prize: PrizeState
    winners: list[WinnerState]
    proof_url: str


class DrawFinished(TypedDict):
    draw_id: int
    status: str
    seed: str
    performed_at: datetime
    winning_numbers: list[int] | None
    proof_url: str


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
    return {"draw_id": draw.pk, "status": draw.status, "entries_count": draw.entries_count,
            "entries_digest": draw.entries_digest, "closed_at": draw.closed_at}


def draw_started_data(draw: Draw) -> DrawStarted:
    return {"draw_id": draw.pk}


def draw_winner_data(draw: Draw, *, prize: Prize, winners: list[Winner]) -> DrawWinner:
    return {"draw_id": draw.pk, "prize": prize_state(prize),
            "winners": [winner_state(w) for w in winners], "proof_url": proof_url(draw)}


def draw_finished_data(draw: Draw) -> DrawFinished:
    return {"draw_id": draw.pk, "status": draw.status, "seed": draw.seed,
            "performed_at": draw.performed_at, "winning_numbers": draw.winning_numbers,
            "proof_url": proof_url(draw)}


def draw_claimed_data(winner: Winner) -> DrawClaimed:
    return {"draw_id": winner.draw_id, "winner_id": winner.pk, "claimed_at": winner.claimed_at}


def draw_forfeited_data(draw: Draw, *, winners: list[Winner],
                        forfeited_at: datetime) -> DrawForfeited:
    return {"draw_id": draw.pk, "winner_ids": [w.pk for w in winners],
            "forfeited_at": forfeited_at}


DRAW_MESSAGES: dict[str, MessageBuilder] = {
    "draw.created": draw_replaced_data,
    "draw.updated": draw_replaced_data,
    "draw.countdown": draw_countdown_data,
    "draw.entries": draw_entries_data,
    "draw.closing": draw_closing_data,
    "draw.started": draw_started_data,
    "draw.winner": draw_winner_data,
    "draw.finished": draw_finished_data,
    "draw.claimed": draw_claimed_data,
    "draw.forfeited": draw_forfeited_data,
}
EVENT_MESSAGES: dict[str, MessageBuilder] = {"event.updated": event_updated_data, **DRAW_MESSAGES}


# --- Publishing --------------------------------------------------------------


def publish_draw(draw: Draw, type_: str, data: dict[str, Any]) -> None:
    """Publish on the draw's and its event's streams after commit.

    `data` comes from the type's builder above; a type neither kind declares
    raises, so that no client and no reducer meets a type nobody described.
    """
    if type_ not in DRAW_MESSAGES:
        raise UnknownMessageType("draw", type_)
    payload = {"draw_id": draw.pk, **data}
    publish_on_commit(draw_stream(draw.pk), type_, payload)
    publish_on_commit(event_stream(draw.event_id), type_, payload)


# --- Reducers (the reference client; tests replay deltas with them) ----------


def _apply_to_draw(draw: DrawState, message: StreamMessage) -> DrawState:
    """One draw message applied to one draw; every field set is absolute (idempotent)."""
    type_, data = message["type"], message["data"]
    if type_ in ("draw.created", "draw.updated"):
        return copy.deepcopy(data["draw"])
    draw = copy.deepcopy(draw)
    if type_ == "draw.countdown":
        draw["scheduled_at"] = data["scheduled_at"]
    elif type_ == "draw.entries":
        draw["entries_count"] = data["count"]
    elif type_ == "draw.closing":
        for field in ("status", "entries_count", "entries_digest", "closed_at"):
            draw[field] = data[field]
    elif type_ == "draw.started":
        pass  # nothing visible changes until the winners arrive
    elif type_ == "draw.winner":
        # Merge by id: a client may get a winner both in its snapshot and as a
        # delta right after it (docs/websocket-protocol.md, "Ordering").
        merged = {w["id"]: w for w in draw["winners"]}
        merged.update({w["id"]: w for w in data["winners"]})
        draw["winners"] = sorted(merged.values(), key=lambda w: w["id"])
    elif type_ == "draw.finished":
        for field in ("status", "seed", "performed_at", "winning_numbers"):
            draw[field] = data[field]
    elif type_ == "draw.claimed":
        for winner in draw["winners"]:
            if winner["id"] == data["winner_id"]:
                winner["claimed_at"] = data["claimed_at"]
    elif type_ == "draw.forfeited":
        for winner in draw["winners"]:
            if winner["id"] in data["winner_ids"]:
                winner["forfeited_at"] = data["forfeited_at"]
    else:
        raise UnknownMessageType(message["stream"].partition(":")[0], type_)
    return draw


def apply_draw_message(snapshot: DrawSnapshot, message: StreamMessage) -> DrawSnapshot:
    """The draw snapshot a client holds after `message` (a draw:<id> message)."""
    return {**snapshot, "draw": _apply_to_draw(snapshot["draw"], message)}


def apply_event_message(snapshot: EventSnapshot, message: StreamMessage) -> EventSnapshot:
    """The event snapshot a client holds after `message` (an event:<id> message)."""
    type_, data = message["type"], message["data"]
    snapshot = copy.deepcopy(snapshot)
    if type_ == "event.updated":
        snapshot["event"] = data["event"]
        return snapshot
    if type_ not in DRAW_MESSAGES:
        raise UnknownMessageType("event", type_)
    draws = {d["id"]: d for d in snapshot["draws"]}
    # A draw the snapshot does not show yet appears with its draw.created.
    if data["draw_id"] in draws or type_ == "draw.created":
        draws[data["draw_id"]] = _apply_to_draw(draws.get(data["draw_id"], {}), message)
    snapshot["draws"] = [draws[k] for k in sorted(draws)]
    return snapshot


# --- The kinds (registered in live/apps.py) ------------------------------------

# Both snapshots depend on the viewer only through is_staff and screen.
EVENT_KIND = StreamKind(
    name="event", snapshot=event_snapshot, messages=EVENT_MESSAGES, apply=apply_event_message,
    screen_key_valid=screen_key_valid, shared_by_audience=True,
)
DRAW_KIND = StreamKind(
    name="draw", snapshot=draw_snapshot, messages=DRAW_MESSAGES, apply=apply_draw_message,
    shared_by_audience=True,
)
