"""The live side of the realtime contract: the ``event`` and ``draw`` stream kinds
(EVENT_KIND, DRAW_KIND, registered in live/apps.py), each one unit of snapshot,
message builders (``*_data``) and reducer (``apply_event_message``,
``apply_draw_message``: how a client applies a message to its snapshot).

The payloads are built elsewhere: the DRAW, PRIZE and WINNER dicts and every
``draw.*`` message's data in live/draw_messages.py, the EVENT dict and
``event.updated`` in core/event_messages.py (core publishes event.updated).

Streams
-------
``event:<id>``  snapshot ``{"event": EVENT, "draws": [DRAW, ...], "server_time",
                "checkin": {"code", "valid_until"} (venue screens only, else absent)}``
``draw:<id>``   snapshot ``{"draw": DRAW, "server_time"}``
``screen:<event_id>``  only ``checkin.code`` messages (venue screens).

Every ``draw.*`` message is published on both ``draw:<id>`` and ``event:<event_id>``
with the same data; each carries ``draw_id``.

Message types (``data``):
- ``event.updated``  {event: EVENT}                      replaces the event.
- ``draw.*``         live/draw_messages.py lists each one's data.
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
from live.draw_messages import (
    DrawState,
    draw_awaiting_beacon_data,
    draw_claimed_data,
    draw_closing_data,
    draw_countdown_data,
    draw_entries_data,
    draw_finished_data,
    draw_forfeited_data,
    draw_replaced_data,
    draw_started_data,
    draw_state,
    draw_winner_data,
)
from live.models import Draw
from live.selectors import draws_with_state, screen_key_valid


def draw_stream(draw_id: int) -> str:
    return f"draw:{draw_id}"


def screen_stream(event_id: int) -> str:
    return f"screen:{event_id}"


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


# --- Message builders by type (built in live/draw_messages.py) ------------------

DRAW_MESSAGES: dict[str, MessageBuilder] = {
    "draw.created": draw_replaced_data,
    "draw.updated": draw_replaced_data,
    "draw.countdown": draw_countdown_data,
    "draw.entries": draw_entries_data,
    "draw.closing": draw_closing_data,
    "draw.awaiting_beacon": draw_awaiting_beacon_data,
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

    `data` comes from the type's builder (live/draw_messages.py); a type neither
    kind declares raises, so that no client and no reducer meets a type nobody
    described.
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
        for field in ("status", "entries_count", "entries_digest", "closed_at", "beacon"):
            draw[field] = data[field]
    elif type_ == "draw.awaiting_beacon":
        draw["status"], draw["beacon"] = data["status"], data["beacon"]
    elif type_ == "draw.started":
        pass  # nothing visible changes until the winners arrive
    elif type_ == "draw.winner":
        # Merge by id: a client may get a winner both in its snapshot and as a
        # delta right after it (docs/websocket-protocol.md, "Ordering").
        merged = {w["id"]: w for w in draw["winners"]}
        merged.update({w["id"]: w for w in data["winners"]})
        draw["winners"] = sorted(merged.values(), key=lambda w: w["id"])
    elif type_ == "draw.finished":
        for field in ("status", "seed", "performed_at", "winning_numbers", "beacon"):
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
def draw_event_id(draw_id: int) -> int | None:
    """The event of a draw: its sockets are re-checked when that event's status changes."""
    return Draw.objects.filter(pk=draw_id).values_list("event_id", flat=True).first()


DRAW_KIND = StreamKind(
    name="draw", snapshot=draw_snapshot, messages=DRAW_MESSAGES, apply=apply_draw_message,
    shared_by_audience=True, event_of=draw_event_id,
)
