"""Ticketing's stream kinds (registered in ticketing/apps.py; docs/websocket-protocol.md):
the seat stream ``seats:<event_id>`` ("Seat stream") and the waiting room's
``queue:<event_id>`` and ``queue_staff:<event_id>`` ("Queue stream"), and a buyer's
own ``user:<user_id>`` (their waiting-list places and offers; "User stream", at the end).

The seat stream: the seat map snapshot, the builders of its messages and the
reducer that applies them.

Snapshot (SEAT_MAP): ``{"event_id", "seq", "seats": [SEAT, ...]}`` where SEAT is
``{"id", "section_id", "section", "row", "label", "number", "x", "y", "status",
"price"}``; the REST seat map (``GET /api/events/<id>/seats/``) is the same dict.

Message types (``data``), one per hold or order, listing its seats:
- ``seat.held``     {seats: [id, ...], status: "held"}
- ``seat.released`` {seats, status: "free"}   released hold or refunded ticket
- ``seat.expired``  {seats, status: "free"}   a hold ran out
- ``seat.sold``     {seats, status: "sold"}
"""

from __future__ import annotations

import contextlib
import time
from functools import partial
from typing import Any, TypedDict

from core import streams
from core.errors import UnknownMessageType
from core.local_time import api_iso
from core.models import Event
from core.replica import replica_reads
from core.selectors.events import PUBLIC_STATUSES, visible_events
from core.streams import StreamKind, StreamMessage, Viewer
from ticketing.models import WAITING_ROOM_SETTINGS, WaitingListEntry, WaitingRoom
from ticketing.queue_line import queue_line
from ticketing.queue_messages import (
    QueueProgress,
    QueueState,
    apply_progress,
    place_body,
    progress_data,
)
from ticketing.selectors import (
    FREE,
    HELD,
    SOLD,
    seat_statuses,
    section_prices,
    venue_seats,
)

KIND = "seats"


class SeatState(TypedDict):
    id: int
    section_id: int
    section: str
    row: str
    label: str
    number: int
    x: float | None
    y: float | None
    status: str  # free | held | sold | blocked
    price: int | None


class SeatMap(TypedDict):
    event_id: int
    seq: int  # the seq of seats:<event_id> the map reflects
    seats: list[SeatState]


class SeatsChanged(TypedDict):
    seats: list[int]  # sorted seat ids
    status: str  # the seats' status after the change (absolute)


def seats_stream(event_id: int) -> str:
    return f"{KIND}:{event_id}"


# --- Snapshot -----------------------------------------------------------------


def seat_map(event: Event, *, section_id: int | None = None, replica: bool = False) -> SeatMap:
    """The seat map: every seat with its status and price, and the stream seq it reflects.

    The seq is read first, so a client that applies stream messages after it
    never misses a change (it may see one it already reflects; deltas are
    idempotent: they set a status). With `replica` (the HTTP read) the rows may come
    from the PostgreSQL replica, chosen after the seq is read: core/replica.py waits
    until it has replayed everything the primary had committed by then, so every
    change published up to that seq is in the map. The stream snapshots stay on the
    primary (docs/scaling.md).
    """
    seq = streams.last_seq(seats_stream(event.id))
    if event.venue_id is None:
        return {"event_id": event.id, "seq": seq, "seats": []}
    with replica_reads() if replica else contextlib.nullcontext():
        seats = list(venue_seats(event.venue_id, section_id=section_id))
        prices = section_prices(event.id)
        statuses = seat_statuses(event, seats, prices)
    return {
        "event_id": event.id,
        "seq": seq,
        "seats": [
            {
                "id": seat.id,
                "section_id": seat.row.section_id,
                "section": seat.row.section.name,
                "row": seat.row.label,
                "label": seat.label,
                "number": seat.number,
                "x": seat.x,
                "y": seat.y,
                "status": statuses[seat.id],
                "price": prices.get(seat.row.section_id),
            }
            for seat in seats
        ],
    }


def seat_map_snapshot(event_id: int, viewer: Viewer) -> SeatMap | None:
    """The kind's snapshot: the public seat map, or None for an unknown (or hidden) event."""
    event = visible_events(getattr(viewer, "user", None)).filter(pk=event_id).first()
    return None if event is None else seat_map(event)


# --- Messages -----------------------------------------------------------------

# Message type -> the status its seats have afterwards.
SEAT_STATUS_AFTER: dict[str, str] = {
    "seat.held": HELD,
    "seat.released": FREE,
    "seat.expired": FREE,
    "seat.sold": SOLD,
}


def seats_changed_data(type_: str, seat_ids: list[int]) -> SeatsChanged:
    """The data of a seat message of `type_` for the seats of one hold or order."""
    status = SEAT_STATUS_AFTER.get(type_)
    if status is None:
        raise UnknownMessageType(KIND, type_)
    return {"seats": sorted(seat_ids), "status": status}


def apply_seat_message(snapshot: SeatMap, message: StreamMessage) -> SeatMap:
    """The seat map a client holds after `message`: its seats take the new status."""
    status = SEAT_STATUS_AFTER.get(message["type"])
    if status is None:
        raise UnknownMessageType(KIND, message["type"])
    data = message["data"]
    if data["status"] != status:
        raise ValueError(f"{message['type']} carries status {data['status']!r}, not {status!r}")
    changed = set(data["seats"])
    return {
        **snapshot,
        "seq": max(snapshot["seq"], message["seq"]),
        "seats": [{**seat, "status": status} if seat["id"] in changed else seat
                  for seat in snapshot["seats"]],
    }


# The public seat map: the viewer matters only through is_staff (drafts).
SEATS_KIND = StreamKind(
    name=KIND,
    snapshot=seat_map_snapshot,
    messages={type_: partial(seats_changed_data, type_) for type_ in SEAT_STATUS_AFTER},
    apply=apply_seat_message,
    shared_by_audience=True,
)


# --- The waiting room: queue:<event_id> and queue_staff:<event_id> ---------------------
#
# queue:<event_id> (ws/events/<id>/queue/, anyone who may see the event): snapshot
# QueueState, the line and the viewer's place; message queue.progress (QueueProgress),
# at least every few seconds while the room is not closed and whenever the line moved.
# A client keeps its `number` and computes its position as number - served: one
# message per tick serves every phone, whatever the length of the line.
#
# queue_staff:<event_id> (ws/events/<id>/queue/staff/, staff with
# ticketing.view_waitingroom, as GET waiting-room/): snapshot
# {"event_id", "seq", "room", "figures"}; messages queue.stats (the figures, absolute)
# and queue.room (the settings and status, after every staff change).

QUEUE_KIND_NAME = "queue"
QUEUE_PROGRESS = "queue.progress"
QUEUE_OPENED = "queue.opened"
# A notice (core.streams.notify), not a stream message: only the admitted buyers'
# sockets get it, at the tick that admits them, however seldom a long line's progress
# is published.
QUEUE_TURN = "queue.turn"
QUEUE_STAFF_KIND_NAME = "queue_staff"


def queue_stream(event_id: int) -> str:
    return f"{QUEUE_KIND_NAME}:{event_id}"


def queue_staff_stream(event_id: int) -> str:
    return f"{QUEUE_STAFF_KIND_NAME}:{event_id}"


def publish_queue_progress(event_id: int, progress: QueueProgress) -> None:
    streams.publish(queue_stream(event_id), "queue.progress", progress)


def publish_queue_opened(event_id: int, progress: QueueProgress) -> None:
    """The sale started: every number is final. Consumers answer it with a fresh
    snapshot of each viewer (its number), not with the message (QUEUE_KIND.resnapshot_on)."""
    streams.publish(queue_stream(event_id), QUEUE_OPENED, progress)


def notify_queue_turn(event_id: int, user_ids: list[int], *, served: int) -> None:
    """Their turn: these buyers were admitted (their snapshot now says so too)."""
    streams.notify(queue_stream(event_id), QUEUE_TURN,
                   {user_id: {"state": "admitted", "served": served} for user_id in user_ids})


def publish_queue_stats(event_id: int, figures: dict[str, Any]) -> None:
    streams.publish(queue_staff_stream(event_id), "queue.stats", figures)


def publish_queue_room(event_id: int, settings: dict[str, Any]) -> None:
    streams.publish(queue_staff_stream(event_id), "queue.room", settings)


def _visible_room(event_id: int, viewer: Viewer) -> WaitingRoom | None:
    """The event's room if the viewer may see the event (one query)."""
    events = visible_events(getattr(viewer, "user", None)).filter(pk=event_id)
    return WaitingRoom.objects.filter(event__in=events).first()


# (event id, staff?) -> (until when, visible with a room?): the phones of a line all
# re-read their snapshot at the opening (queue.opened); one query per event, audience
# and second per process answers them all. An unpublished event closes its sockets
# (an access re-check) within that second.
_visibility: dict[tuple[int, bool], tuple[float, bool]] = {}
VISIBILITY_SECONDS = 1.0


def _room_visible(event_id: int, staff: bool) -> bool:
    now = time.monotonic()
    cached = _visibility.get((event_id, staff))
    if cached is not None and cached[0] > now:
        return cached[1]
    events = Event.objects.filter(pk=event_id)
    if not staff:
        events = events.filter(status__in=PUBLIC_STATUSES)
    visible = WaitingRoom.objects.filter(event__in=events).exists()
    if len(_visibility) > 10_000:
        _visibility.clear()
    _visibility[(event_id, staff)] = (now + VISIBILITY_SECONDS, visible)
    return visible


def queue_snapshot(event_id: int, viewer: Viewer) -> dict[str, Any] | None:
    """The line and the viewer's place (None: no such event for this viewer, or no room).

    One query (shared per process for a second) checks that the event is visible to
    the viewer and has a room, as every stream of an event does; the consumer shares
    that build between the sockets of one audience connecting at once and reads each
    socket's place with queue_personalize, off the worker's database thread (20,000
    phones arriving for a sale were 20,000 reads on that one thread: bench/waiting_room.py)."""
    user = getattr(viewer, "user", None)
    if not _room_visible(event_id, bool(getattr(user, "is_staff", False))):
        return None
    return queue_personalize(event_id, viewer, {"seq": streams.last_seq(queue_stream(event_id))})


def queue_personalize(event_id: int, viewer: Viewer, shared: dict[str, Any]) -> dict[str, Any]:
    """A visible line's snapshot for this viewer: the line and its place, one step on the
    line's store, no database (the visibility check is in the shared build)."""
    user = getattr(viewer, "user", None)
    authenticated = bool(user is not None and user.is_authenticated)
    place = queue_line().place(event_id, user.pk if authenticated else None)
    return {**place_body(event_id, place, authenticated=authenticated), "seq": shared["seq"]}


def apply_queue_message(snapshot: QueueState, message: StreamMessage) -> QueueState:
    """queue.progress moves the viewer's position; queue.opened never reaches a client
    as such (it gets a new snapshot instead) and reduces like a progress."""
    if message["type"] not in (QUEUE_PROGRESS, QUEUE_OPENED):
        raise UnknownMessageType(QUEUE_KIND_NAME, message["type"])
    return {**apply_progress(snapshot, message["data"]),
            "seq": max(snapshot["seq"], message["seq"])}


def queue_staff_snapshot(event_id: int, viewer: Viewer) -> dict[str, Any] | None:
    user = getattr(viewer, "user", None)
    # As the REST figures (GET waiting-room/): staff with the room's view permission.
    if user is None or not user.is_staff or not user.has_perm("ticketing.view_waitingroom"):
        return None
    room = _visible_room(event_id, viewer)
    if room is None:
        return None
    seq = streams.last_seq(queue_staff_stream(event_id))
    return {"event_id": event_id, "seq": seq, "room": room_settings(room),
            "figures": queue_line().stats(event_id).as_dict()}


def room_settings(room: WaitingRoom) -> dict[str, Any]:
    return {"status": room.status,
            **{name: getattr(room, name) for name in WAITING_ROOM_SETTINGS}}


STAFF_MESSAGE_FIELDS = {"queue.stats": "figures", "queue.room": "room"}


def apply_queue_staff_message(snapshot: dict[str, Any], message: StreamMessage) -> dict[str, Any]:
    name = STAFF_MESSAGE_FIELDS.get(message["type"])
    if name is None:
        raise UnknownMessageType(QUEUE_STAFF_KIND_NAME, message["type"])
    return {**snapshot, name: message["data"], "seq": max(snapshot["seq"], message["seq"])}


QUEUE_KIND = StreamKind(
    name=QUEUE_KIND_NAME,
    snapshot=queue_snapshot,
    messages={QUEUE_PROGRESS: progress_data, QUEUE_OPENED: progress_data},
    apply=apply_queue_message,
    resnapshot_on=frozenset({QUEUE_OPENED}),
    # The visibility check is shared (it depends on is_staff only), the place is not.
    shared_by_audience=True,
    personalize=queue_personalize,
    notices=frozenset({QUEUE_TURN}),
)

QUEUE_STAFF_KIND = StreamKind(
    name=QUEUE_STAFF_KIND_NAME,
    snapshot=queue_staff_snapshot,
    messages={"queue.stats": lambda stats: stats.as_dict(), "queue.room": room_settings},
    apply=apply_queue_staff_message,
)


# --- the user stream ``user:<user_id>`` (one buyer's own news) ---------------------------
# Snapshot: {"user_id", "seq", "waiting_list": [ENTRY, ...]} (the user's live waiting-list
# places); ENTRY is waiting_entry_data below. Message: ``waiting_list.entry`` carries one
# entry's whole state whenever it changes (joined, offered, converted, expired, left):
# live entries are replaced in the snapshot by id, the others drop out.

USER_KIND_NAME = "user"
WAITING_LIST_ENTRY = "waiting_list.entry"


def user_stream(user_id: int) -> str:
    return f"{USER_KIND_NAME}:{user_id}"


def waiting_entry_data(entry: WaitingListEntry) -> dict[str, Any]:
    """An entry as its owner sees it (REST and stream): with the offered hold's token."""
    hold = entry.hold if entry.status == WaitingListEntry.Status.OFFERED else None
    return {
        "id": entry.pk, "event_id": entry.event_id, "section_id": entry.section_id,
        "seats": entry.seats, "status": entry.status, "joined_at": api_iso(entry.created_at),
        "offer": None if hold is None else {
            "hold": hold.token, "seats": hold.seat_ids, "total": hold.total,
            "expires_at": api_iso(entry.offer_expires_at)},
    }


def publish_waiting_entry(entry: WaitingListEntry) -> None:
    streams.publish_on_commit(user_stream(entry.user_id), "waiting_list.entry",
                              waiting_entry_data(entry))


def user_snapshot(user_id: int, viewer: Viewer) -> dict[str, Any] | None:
    user = getattr(viewer, "user", None)
    if user is None or not user.is_authenticated or user.pk != user_id:
        return None  # nobody else's: not found
    seq = streams.last_seq(user_stream(user_id))
    entries = (WaitingListEntry.objects.filter(user_id=user_id, status__in=WaitingListEntry.LIVE)
               .select_related("hold").order_by("id"))
    return {"user_id": user_id, "seq": seq,
            "waiting_list": [waiting_entry_data(entry) for entry in entries]}


def apply_user_message(snapshot: dict[str, Any], message: StreamMessage) -> dict[str, Any]:
    if message["type"] != WAITING_LIST_ENTRY:
        raise UnknownMessageType(USER_KIND_NAME, message["type"])
    entry = message["data"]
    others = [e for e in snapshot["waiting_list"] if e["id"] != entry["id"]]
    if entry["status"] in WaitingListEntry.LIVE:
        others = sorted([*others, entry], key=lambda e: e["id"])
    return {**snapshot, "waiting_list": others, "seq": max(snapshot["seq"], message["seq"])}


USER_KIND = StreamKind(
    name=USER_KIND_NAME,
    snapshot=user_snapshot,
    messages={WAITING_LIST_ENTRY: waiting_entry_data},
    apply=apply_user_message,
)
