"""The waiting room's payloads: the line as everyone sees it, a buyer's place in it,
and the staff's figures (docs/websocket-protocol.md, "Queue stream").

The REST answers (GET/POST /api/events/<id>/queue/) and the snapshots of the
``queue`` and ``queue_staff`` stream kinds are these dicts; the stream messages
carry ``progress_data`` (queue.progress) and ``LineStats.as_dict`` (queue.stats).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any, TypedDict

from core.local_time import api_iso
from ticketing.queue_line import ADMITTED, LEFT, WAITING, Place


class QueueProgress(TypedDict):
    status: str  # open | paused | closed
    opens_at: str | None  # ISO 8601, UTC: joins accepted from
    sale_starts_at: str | None  # admission starts; who joined before is placed at random
    sale_started: bool
    length: int  # buyers waiting
    served: int  # places called so far: a buyer's position is number - served
    rate_per_minute: float  # buyers admitted a minute now


class QueueMe(TypedDict):
    state: str  # not_in_line | waiting | left | admitted | in_use | expired | done
    number: int | None  # place in the sale's whole line (null until the sale starts)
    position: int | None  # waiting: how many places to the front, this one included
    eta_seconds: int | None  # waiting: position at the current rate


class QueueState(QueueProgress):
    event_id: int
    me: QueueMe | None  # the viewer's place; null for anonymous viewers (screens)


def iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return api_iso(datetime.fromtimestamp(epoch, tz=UTC))


def pass_deadline_iso(place: Place) -> str | None:
    return iso(place.pass_deadline)


def eta_seconds(position: int | None, rate_per_minute: float) -> int | None:
    if position is None or rate_per_minute <= 0:
        return None
    return math.ceil(position * 60 / rate_per_minute)


def progress_data(place: Place) -> QueueProgress:
    """The line as everyone sees it: the data of queue.progress."""
    return {
        "status": place.status,
        "opens_at": iso(place.opens_at),
        "sale_starts_at": iso(place.sale_at),
        "sale_started": place.sale_at is not None and place.now >= place.sale_at,
        "length": place.length,
        "served": place.served,
        "rate_per_minute": _rate(place),
    }


def _rate(place: Place) -> float:
    return round(place.rate_per_minute, 1)


def me_data(place: Place) -> QueueMe:
    return {"state": place.state or "not_in_line", "number": place.number,
            "position": place.position,
            "eta_seconds": eta_seconds(place.position, _rate(place))}


def place_body(event_id: int, place: Place, *, authenticated: bool) -> QueueState:
    """The line and, for a signed-in viewer, their place in it."""
    return {"event_id": event_id, **progress_data(place),
            "me": me_data(place) if authenticated else None}


def apply_progress(state: dict[str, Any], progress: QueueProgress) -> dict[str, Any]:
    """A queue state after a queue.progress: the line's values, and the viewer's
    position moved by `served` (a waiting buyer whose number is called is admitted)."""
    state = {**state, **progress}
    me = state.get("me")
    if me is not None and me["state"] == LEFT and me["number"] is not None \
            and me["number"] <= progress["served"]:
        # The line went past a place given up: it is gone (joining again: the back).
        state["me"] = {**me, "number": None}
    elif me is not None and me["state"] == WAITING and me["number"] is not None:
        position = me["number"] - progress["served"]
        if position <= 0:
            me = {**me, "state": ADMITTED, "position": None, "eta_seconds": None}
        else:
            me = {**me, "position": position,
                  "eta_seconds": eta_seconds(position, progress["rate_per_minute"])}
        state["me"] = me
    return state

