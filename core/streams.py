"""The one publisher for realtime streams (ARCHITECTURE.md, "Streams").

A stream is named like ``draw:<id>``, ``event:<id>``, ``seats:<event_id>``.
Every message is ``{"stream", "seq", "type", "data", "ts"}`` where ``seq``
increases by one per message on that stream. Each message is kept in a
bounded history (the last STREAM_HISTORY_LENGTH messages, none older than
STREAM_HISTORY_SECONDS) so that a client reconnecting with ``since=<seq>``
gets exactly what it missed, and then sent to the stream's channel-layer group.

Backends: Redis when REDIS_URL is set (one Lua script assigns the seq and
appends to the history atomically, so several workers share one sequence);
process memory otherwise (the in-memory channel layer only reaches its own
process anyway).

Call ``publish_on_commit`` after a database change: the message goes out only
if the transaction commits.

Who can publish (docs/decisions/2026-11-30-stream-outbox-embedded.md): with
Redis, any process. Without Redis the seqs, the history and the fan-out are in
the memory of the one server process, so only that process publishes; it says
so with ``serve_streams_here()`` (``manage.py serve``, core/asgi.py, and the
test suite, whose process is the server of its in-process consumers). In every
other process (``import_winners``, ``shell``, a separate ``run_scheduler``)
``publish_on_commit`` writes the message to the database outbox
(``StreamOutboxMessage``) in the caller's transaction, and the server's
in-process scheduler publishes it (``outbox_drain``, every tick), assigning its
seq there: the seq/resume contract does not change. Outbox messages are news only
while they are recent: the server forgets those written before it started
(``outbox_discard_before``) and the drain skips those older than the history
window, instead of publishing stale values on top of newer state.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NoReturn, TypedDict

from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from core.errors import UnknownMessageType
from core.jsonutil import to_jsonable
from core.metrics import MESSAGES_PUBLISHED, stream_kind_label
from core.redis import get_redis, key, redis_enabled, tagged

logger = logging.getLogger(__name__)

GROUP_MESSAGE_TYPE = "stream.message"


def group_name(stream: str) -> str:
    """Channel-layer group for a stream (groups allow only [a-zA-Z0-9_.-])."""
    return "stream." + stream.replace(":", ".")


def _now() -> float:
    return time.time()


class StreamMessage(TypedDict):
    """One message of a stream as clients get it and as the history keeps it."""

    stream: str
    seq: int
    type: str
    data: Any  # a dict built by the stream kind's message builder for `type`
    ts: float


@dataclass(frozen=True)
class History:
    """What a reconnecting client can be given."""

    messages: list[StreamMessage]
    last_seq: int
    # True when the messages after `since` are no longer all in the history:
    # the client must start again from a fresh snapshot.
    reset: bool


class _MemoryBackend:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seq: dict[str, int] = {}
        self._history: dict[str, deque] = {}

    def append(self, stream: str, type_: str, data: Any, ts: float) -> dict[str, Any]:
        with self._lock:
            seq = self._seq.get(stream, 0) + 1
            self._seq[stream] = seq
            message = {"stream": stream, "seq": seq, "type": type_, "data": data, "ts": ts}
            history = self._history.setdefault(
                stream, deque(maxlen=settings.STREAM_HISTORY_LENGTH)
            )
            history.append(message)
            return message

    def last_seq(self, stream: str) -> int:
        with self._lock:
            return self._seq.get(stream, 0)

    def messages(self, stream: str) -> tuple[list[dict[str, Any]], int]:
        with self._lock:
            return list(self._history.get(stream, ())), self._seq.get(stream, 0)

    def clear(self) -> None:
        with self._lock:
            self._seq.clear()
            self._history.clear()


# KEYS[1] seq counter, KEYS[2] history list; ARGV: type, data json, ts, maxlen, ttl.
# The message JSON is assembled here so that seq and position in the list agree.
_APPEND_LUA = """
local seq = redis.call('INCR', KEYS[1])
local msg = cjson.encode({stream=ARGV[6], seq=seq, type=ARGV[1], ts=tonumber(ARGV[3])})
msg = string.sub(msg, 1, -2) .. ',"data":' .. ARGV[2] .. '}'
redis.call('RPUSH', KEYS[2], msg)
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[4]), -1)
redis.call('EXPIRE', KEYS[2], ARGV[5])
return {seq, msg}
"""


class _RedisBackend:
    def __init__(self, client) -> None:
        self._client = client
        self._append = client.register_script(_APPEND_LUA)

    @staticmethod
    def _keys(stream: str) -> tuple[str, str]:
        # One hash tag per stream: the append script touches both keys (one slot).
        return (key("stream", tagged(stream), "seq"),
                key("stream", tagged(stream), "history"))

    def append(self, stream: str, type_: str, data: Any, ts: float) -> dict[str, Any]:
        seq_key, history_key = self._keys(stream)
        payload = json.dumps(data, cls=DjangoJSONEncoder)
        _, raw = self._append(
            keys=[seq_key, history_key],
            args=[
                type_,
                payload,
                repr(ts),
                settings.STREAM_HISTORY_LENGTH,
                settings.STREAM_HISTORY_SECONDS * 2,
                stream,
            ],
        )
        return json.loads(raw)

    def last_seq(self, stream: str) -> int:
        return int(self._client.get(self._keys(stream)[0]) or 0)

    def messages(self, stream: str) -> tuple[list[dict[str, Any]], int]:
        seq_key, history_key = self._keys(stream)
        pipe = self._client.pipeline(transaction=True)
        pipe.lrange(history_key, 0, -1)
        pipe.get(seq_key)
        raw, seq = pipe.execute()
        return [json.loads(item) for item in raw], int(seq or 0)


_memory = _MemoryBackend()


def _backend():
    client = get_redis()
    return _RedisBackend(client) if client is not None else _memory


def record(stream: str, type_: str, data: Any) -> StreamMessage:
    """Assign the next seq and keep the message in history; do not send it."""
    return _backend().append(stream, type_, to_jsonable(data), _now())


# STREAM_FANOUT = "relay": each worker process subscribes once (consumers/relay.py).
_local_fanout = None


def set_local_fanout(func) -> None:
    """Without Redis, the relay of this process receives messages through `func`."""
    global _local_fanout
    _local_fanout = func


def fanout_shard(stream: str) -> int:
    """The relay shard of a stream: crc32 of its name modulo STREAM_FANOUT_SHARDS."""
    return zlib.crc32(stream.encode()) % settings.STREAM_FANOUT_SHARDS


def fanout_channel(shard: int | str) -> str:
    """The sharded pub/sub channel of a relay shard (or "control"): hash-tagged, so on a
    cluster each shard's channel lives on one node and SPUBLISH reaches only it."""
    return key("fanout", tagged(shard))


def _relay(message: dict[str, Any]) -> None:
    client = get_redis()
    if client is not None:
        # SPUBLISH, not PUBLISH: on a cluster a PUBLISH is broadcast over the bus to
        # every node; a sharded message stays on its channel's node, and only the
        # workers with a socket on a stream of that shard subscribe to it.
        shard = "control" if "control" in message else fanout_shard(message["stream"])
        client.spublish(fanout_channel(shard), json.dumps(message))
    elif _local_fanout is not None:
        _local_fanout(message)


# --- Control messages ----------------------------------------------------------
# Not stream messages (no seq, no history, never sent to a client): they tell the
# consumers of every worker to check again who may watch an event's streams. They
# travel the relay's path in both fan-out modes (Redis pub/sub across workers, or
# in-process without Redis); the consumers re-check from the database, so a lost
# one costs only time (screens re-check their key at each heartbeat).
ACCESS_CHANGED = "access_changed"  # an event's status changed: who may see it did
SCREEN_KEY_REVOKED = "screen_key_revoked"  # a screen key of the event was revoked
CONTROL_KINDS = (ACCESS_CHANGED, SCREEN_KEY_REVOKED)


def control(kind: str, *, event_id: int) -> None:
    """Tell every worker's consumers on `event_id`'s streams to check access again."""
    if kind not in CONTROL_KINDS:
        raise ValueError(f"unknown control message {kind!r}")
    _relay({"control": kind, "event_id": event_id})


def control_on_commit(kind: str, *, event_id: int) -> None:
    """`control` once the current transaction commits (robust: logged if Redis is down)."""
    transaction.on_commit(lambda: control(kind, event_id=event_id), robust=True)


def send(message: dict[str, Any]) -> None:
    """Send an already recorded message to the stream's subscribers."""
    if settings.STREAM_FANOUT == "relay":
        _relay(message)
        return
    layer = get_channel_layer()
    if layer is not None:
        async_to_sync(layer.group_send)(
            group_name(message["stream"]), {"type": GROUP_MESSAGE_TYPE, "message": message}
        )


async def asend(message: dict[str, Any]) -> None:
    if settings.STREAM_FANOUT == "relay":
        await _off_loop(_relay)(message)
        return
    layer = get_channel_layer()
    if layer is not None:
        await layer.group_send(
            group_name(message["stream"]), {"type": GROUP_MESSAGE_TYPE, "message": message}
        )


def publish(stream: str, type_: str, data: Any) -> StreamMessage:
    """Record and send one message now. Returns the message as clients get it."""
    message = record(stream, type_, data)
    send(message)
    MESSAGES_PUBLISHED.labels(stream_kind_label(stream)).inc()
    return message


# --- Notices -------------------------------------------------------------------
# A notice is for some signed-in viewers of a stream only (a waiting room's "your
# turn"): no seq, no history; each worker's relay hands it to those viewers' sockets
# and skips every other socket before any per-socket work, so telling 20 buyers out
# of 20,000 watching costs a dictionary lookup per socket, not a frame. Whatever a
# notice says must also be in that viewer's snapshot: a phone with no socket open
# learns it from its next snapshot, so a lost notice costs only time.


def notify(stream: str, type_: str, to: Mapping[int, Any]) -> None:
    """Send notice `type_` on `stream` to the sockets of the users in `to` (user id ->
    the notice's data for that user); kinds declare their notices (StreamKind.notices)."""
    if not to:
        return
    send({"stream": stream, "notice": type_, "ts": _now(),
          "to": {str(user_id): to_jsonable(data) for user_id, data in to.items()}})


def notice_frame(message: dict[str, Any], user_key: str | None) -> dict[str, Any] | None:
    """The frame a notice becomes for the viewer `user_key` (str(user id)), or None
    when it is not for that viewer. The frame has no seq: it is not a stream message."""
    data = message["to"].get(user_key) if user_key is not None else None
    if data is None:
        return None
    return {"stream": message["stream"], "type": message["notice"], "ts": message["ts"],
            "data": data}


def publish_on_commit(stream: str, type_: str, data: Any) -> None:
    """Publish once the current transaction commits; never for a rolled-back change.

    Robust: the change is committed by then, so a failing publish (Redis down)
    is logged instead of turning a done purchase into a 500; clients that miss
    the message resync from the snapshot on their next (re)connect.

    In a process that cannot reach the sockets (no Redis, not the server) the
    message is written to the outbox now, in the caller's transaction (so it
    commits or rolls back with the change), for the server to publish.
    """
    if not reaches_subscribers():
        _outbox_write(stream, type_, data)
        return
    transaction.on_commit(lambda: publish(stream, type_, data), robust=True)


# --- Publishing from another process on embedded defaults ---------------------
# Without Redis, the seq counters, the history and the fan-out are this module's
# memory in the server process. The server marks itself; any other process hands
# its messages to the server through the database outbox.
_serves_streams = False


def serve_streams_here() -> None:
    """Declare this process the server of the streams' sockets (see the module doc).

    Called by ``manage.py serve`` before the scheduler and daphne start, by
    core/asgi.py (whatever loads the ASGI application serves the sockets), and by
    the test suite's conftest. Irrelevant with Redis, where every process publishes.
    """
    global _serves_streams
    _serves_streams = True


def reaches_subscribers() -> bool:
    """True when a publish from this process reaches the sockets: with Redis
    always; without, only in the process that serves them."""
    return redis_enabled() or _serves_streams


def _outbox_write(stream: str, type_: str, data: Any) -> None:
    from core.models import StreamOutboxMessage

    StreamOutboxMessage.objects.create(stream=stream, type=type_, data=to_jsonable(data))


def outbox_discard_before(moment: datetime) -> int:
    """At server start: delete, unpublished, the outbox messages written before `moment`.

    Called by ``manage.py serve`` before it serves (on embedded defaults the streams
    start empty with the process): every snapshot it builds reads the database after
    those changes committed, so publishing them later, with fresh seqs, would only
    put old values on top of newer ones. One DELETE, once: a message whose
    transaction began before the start but commits after it is not visible to the
    DELETE (PostgreSQL) or is waited for (SQLite's write lock), and is published by
    the drain as usual. Returns how many; nothing (no query) with Redis.
    """
    if redis_enabled():
        return 0
    from core.models import StreamOutboxMessage

    deleted, _ = StreamOutboxMessage.objects.filter(created_at__lt=moment).delete()
    if deleted:
        logger.warning("stream outbox: %d message(s) written before this server started "
                       "discarded unpublished (its snapshots already show them)", deleted)
    return deleted


def outbox_drain(limit: int = 500) -> int:
    """Publish the outbox's messages in id order, deleting each one published;
    returns how many rows it took. A periodic job (every scheduler tick): it acts
    only in the server on embedded defaults, and does nothing (no query) with Redis.

    A message written more than STREAM_HISTORY_SECONDS ago (nobody drained: the
    scheduler was stuck, or the database down) is deleted without being published,
    with a warning: its change is older than anything a client can resume, newer
    messages on its stream may already have gone out, and a client that reconnects
    gets a snapshot that shows it (docs/decisions/2026-11-30-stream-outbox-embedded.md).

    Exactly once when two drains overlap: each takes its rows with
    ``select_for_update(skip_locked=True)`` on PostgreSQL; on SQLite
    (transaction_mode IMMEDIATE) the transaction holds the write lock from its
    start, so drains run one after the other. A message is published before its
    row's delete commits: should the commit fail, it is published again (messages
    carry absolute values, so a repeat changes nothing for a client).
    """
    if redis_enabled() or not _serves_streams:
        return 0
    from core.models import StreamOutboxMessage

    pending = StreamOutboxMessage.objects.order_by("id")
    if not pending.exists():  # cheap check first: on SQLite an atomic block takes the write lock
        return 0
    stale_before = timezone.now() - timedelta(seconds=settings.STREAM_HISTORY_SECONDS)
    with transaction.atomic():
        rows = list(pending.select_for_update(skip_locked=True)[:limit])
        stale = [row for row in rows if row.created_at < stale_before]
        for row in (row for row in rows if row.created_at >= stale_before):
            try:
                publish(row.stream, row.type, row.data)
            except Exception:  # one bad message must not hold back (and repeat) the rest
                logger.exception("publishing outbox message %s (%s) failed; dropped",
                                 row.pk, row.type)
        StreamOutboxMessage.objects.filter(pk__in=[row.pk for row in rows]).delete()
    if stale:
        logger.warning(
            "stream outbox: %d message(s) older than STREAM_HISTORY_SECONDS (%d s) deleted "
            "unpublished (oldest written %s; streams %s); clients see them in their next "
            "snapshot", len(stale), settings.STREAM_HISTORY_SECONDS,
            min(row.created_at for row in stale).isoformat(),
            ", ".join(sorted({row.stream for row in stale})[:10]))
    return len(rows)


def last_seq(stream: str) -> int:
    return _backend().last_seq(stream)


def history_window(stream: str) -> tuple[list[dict[str, Any]], int]:
    """The retained messages (oldest first, none older than STREAM_HISTORY_SECONDS)
    and the stream's current seq. Consumers resuming at once share one read."""
    messages, current = _backend().messages(stream)
    oldest_allowed = _now() - settings.STREAM_HISTORY_SECONDS
    return [m for m in messages if m["ts"] >= oldest_allowed], current


def history_from(window: tuple[list[dict[str, Any]], int], since: int) -> History:
    """What a client that processed `since` needs, from a history_window()."""
    kept, current = window
    wanted = [m for m in kept if m["seq"] > since]
    if since >= current:
        return History(messages=[], last_seq=current, reset=since > current)
    # Every seq from since + 1 on, none missing: ts is not monotonic in seq (the clock
    # is read before the backend's lock; with Redis each worker has its own clock), so
    # the age filter of history_window can cut a message out of the middle.
    complete = bool(wanted) and all(
        message["seq"] == since + 1 + i for i, message in enumerate(wanted))
    return History(messages=wanted if complete else [], last_seq=current, reset=not complete)


def history_since(stream: str, since: int) -> History:
    """Messages with seq > since, oldest first, or reset=True when some are gone."""
    return history_from(history_window(stream), since)


def latest_by_type(stream: str) -> dict[str, Any]:
    """The data of the newest retained message of each type on a stream.

    The snapshot of a stream that no kind describes (the venue screen's
    ``screen:<event_id>``, whose messages each carry a whole current value such
    as the check-in code) is this map.
    """
    messages, _ = _backend().messages(stream)
    return {message["type"]: message["data"] for message in messages}


# Async forms for consumers. The Redis client blocks, so it runs in a worker
# thread (not the database thread: these never touch the ORM); the in-memory
# backend is a dict behind a lock and is read in place.
def _off_loop(func):
    async def call(*args):
        if get_redis() is None:
            return func(*args)
        return await sync_to_async(func, thread_sensitive=False)(*args)

    call.__name__ = "a" + func.__name__
    call.__doc__ = f"Async {func.__name__}()."
    return call


alast_seq = _off_loop(last_seq)
ahistory_since = _off_loop(history_since)
ahistory_window = _off_loop(history_window)
alatest_by_type = _off_loop(latest_by_type)


def reset_memory_backend() -> None:
    """Forget in-process history (tests)."""
    _memory.clear()


# --- Stream kinds -----------------------------------------------------------
# Apps register each stream kind as one unit: its snapshot, the builders of its
# messages' data and the reducer that applies one message to a snapshot.
# Consumers (which must not be imported by the apps) look kinds up here by
# name. live registers "event" and "draw" (live/streams.py), ticketing
# registers "seats" (ticketing/streams.py), each in its AppConfig.ready().


@dataclass(frozen=True)
class Viewer:
    """Who is watching a stream."""

    user: Any  # a User or AnonymousUser
    # True when the connection presented a valid screen key for the stream's event:
    # only venue screens see the rotating check-in code.
    screen: bool = False


Snapshot = dict[str, Any]
# (object_id, viewer) -> the full current state, or None when the object does not
# exist (or the viewer may not see it). Synchronous: it reads the database;
# consumers call it through database_sync_to_async.
SnapshotBuilder = Callable[[int, Viewer], Snapshot | None]
# Domain objects -> a message's `data` (absolute values, so that applying the
# message twice changes nothing: docs/websocket-protocol.md, "Ordering").
MessageBuilder = Callable[..., dict[str, Any]]
# (snapshot, message) -> the snapshot a client holds after the message. Pure: it
# returns a new snapshot and leaves its arguments alone.
Reducer = Callable[[Snapshot, StreamMessage], Snapshot]


def publishes_nothing(snapshot: Snapshot, message: StreamMessage) -> NoReturn:
    """The reducer of a kind without messages: every message is unknown."""
    raise UnknownMessageType(message["stream"].partition(":")[0], message["type"])


@dataclass(frozen=True)
class StreamKind:
    name: str
    snapshot: SnapshotBuilder
    # Every message type the kind publishes -> the builder of its `data`.
    # Publishers build data with these; `apply` handles exactly these types.
    messages: Mapping[str, MessageBuilder] = field(default_factory=dict)
    # Applies one message of this kind to a snapshot; raises UnknownMessageType
    # for a type not in `messages` (clients and tests replay deltas with it).
    apply: Reducer = publishes_nothing
    # (object_id, key) -> bool: is `key` a valid screen key for this object's event?
    # None: this kind has no screen access.
    screen_key_valid: Callable[[int, str], bool] | None = None
    # (object_id) -> the id of the event the object belongs to, whose venue-screen
    # stream ``screen:<event_id>`` a screen viewer also joins. Not needed when the
    # object id is the event id (the ws/events/<id>/ routes); without it a screen
    # viewer of this kind joins no screen stream.
    event_of: Callable[[int], int | None] | None = None
    # Message types that change each viewer's own part of the snapshot in a way one
    # broadcast cannot say (the waiting room's opening: every early arrival's number is
    # drawn). A consumer answers such a message with a fresh snapshot of its viewer,
    # flagged "reset", instead of relaying it, live or on resume (docs/websocket-protocol.md).
    resnapshot_on: frozenset[str] = frozenset()
    # True when the snapshot depends on the viewer only through its audience
    # (viewer.user.is_staff and viewer.screen): sockets of one worker asking at
    # the same moment then share one build (consumers/snapshots.py).
    shared_by_audience: bool = False
    # (object_id, viewer, shared snapshot) -> this viewer's snapshot: for a shared kind
    # whose snapshot also carries a part of the viewer's own that is cheap to read
    # without the database (the waiting room's place, from Redis). The consumer calls
    # it for every socket after the shared build (which ran with another socket's
    # viewer): it must replace every viewer-specific part.
    personalize: Callable[[int, Viewer, Snapshot], Snapshot] | None = None
    # Notice types (streams.notify): frames for some viewers only, without a seq, that
    # restate a change of that viewer's part of the snapshot (docs/websocket-protocol.md).
    notices: frozenset[str] = frozenset()


_kinds: dict[str, StreamKind] = {}


def register_stream_kind(kind: StreamKind) -> None:
    _kinds[kind.name] = kind


def stream_kind(name: str) -> StreamKind | None:
    return _kinds.get(name)


def unregister_stream_kind(name: str) -> StreamKind | None:
    """Forget a kind (tests swap kinds in and out); returns what was registered."""
    return _kinds.pop(name, None)
