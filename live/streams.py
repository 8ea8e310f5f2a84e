"""The live side of the realtime contract: snapshots, message types, and how a
client applies each message to its snapshot (``apply_message``).

Streams
-------
``event:<id>``  snapshot ``{"event": EVENT, "draws": [DRAW, ...], "server_time",
                "checkin": {"code", "valid_until"} (venue screens only, else absent)}``
``draw:<id>``   snapshot ``{"draw": DRAW, "server_time"}``
``screen:<event_id>``  only ``checkin.code`` messages (venue screens).

Every draw message below is published on both ``draw:<id>`` and ``event:<event_id>``
with the same data; each carries ``draw_id``.

EVENT = {id, title, description, starts_at, ends_at, status, venue_id, time_zone,
         checkin_code_required}
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
from typing import Any

from django.utils import timezone

from core.selectors.events import visible_events
from core.services.events import event_payload as event_state
from core.streams import publish_on_commit
from live import checkin
from live.models import Draw, Winner
from live.selectors import draws_with_state, proof_url


def event_stream(event_id: int) -> str:
    return f"event:{event_id}"


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


def prize_state(prize) -> dict[str, Any]:
    return {"id": prize.pk, "name": prize.name, "quantity": prize.quantity, "rank": prize.rank,
            "matches": prize.matches}


def winner_state(winner: Winner) -> dict[str, Any]:
    return {
        "id": winner.pk, "prize_id": winner.prize_id, "prize": winner.prize.name,
        "rank": winner.prize.rank, "winner": mask_user(winner.user), "entry_id": winner.entry_id,
        "round": winner.round, "claim_deadline": winner.claim_deadline,
        "claimed_at": winner.claimed_at, "forfeited_at": winner.forfeited_at,
    }


def draw_state(draw: Draw) -> dict[str, Any]:
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


# --- Snapshots (registered as StreamKind in live/apps.py) --------------------


def event_snapshot(object_id, viewer) -> dict[str, Any] | None:
    user = getattr(viewer, "user", None)
    event = visible_events(user).filter(pk=object_id).first()
    if event is None:
        return None
    draws = draws_with_state().filter(event_id=event.pk).order_by("id")
    snapshot = {"event": event_state(event), "draws": [draw_state(d) for d in draws],
                "server_time": timezone.now()}
    if getattr(viewer, "screen", False):
        snapshot["checkin"] = checkin.current_code(event)
    return snapshot


def draw_snapshot(object_id, viewer) -> dict[str, Any] | None:
    user = getattr(viewer, "user", None)
    visible = visible_events(user).values("pk")
    draw = draws_with_state().filter(pk=object_id, event_id__in=visible).first()
    if draw is None:
        return None
    return {"draw": draw_state(draw), "server_time": timezone.now()}


# --- Publishing --------------------------------------------------------------


def publish_draw(draw: Draw, type_: str, data: dict[str, Any]) -> None:
    """Publish on the draw's and its event's streams after commit."""
    payload = {"draw_id": draw.pk, **data}
    publish_on_commit(draw_stream(draw.pk), type_, payload)
    publish_on_commit(event_stream(draw.event_id), type_, payload)


# --- Applying messages (the reference client; tests use it) ------------------


def _merge_draw(draw: dict[str, Any], type_: str, data: dict[str, Any]) -> dict[str, Any]:
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
    return draw


def apply_message(snapshot: dict[str, Any], message: dict[str, Any]) -> dict[str, Any]:
    """The snapshot a client holds after receiving `message` (event or draw stream)."""
    type_, data = message["type"], message["data"]
    snapshot = copy.deepcopy(snapshot)
    if type_ == "event.updated":
        snapshot["event"] = data["event"]
        return snapshot
    if not type_.startswith("draw.") or type_ == "draw.started":
        return snapshot
    if "draw" in snapshot:
        snapshot["draw"] = _merge_draw(snapshot["draw"], type_, data)
        return snapshot
    draws = {d["id"]: d for d in snapshot["draws"]}
    if data["draw_id"] in draws or type_ == "draw.created":
        draws[data["draw_id"]] = _merge_draw(draws.get(data["draw_id"], {}), type_, data)
    snapshot["draws"] = [draws[k] for k in sorted(draws)]
    return snapshot
