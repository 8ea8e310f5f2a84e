"""One consumer for every stream kind (docs/websocket-protocol.md).

    ws/events/<id>/        kind "event"  stream event:<id>
    ws/draws/<id>/         kind "draw"   stream draw:<id>
    ws/events/<id>/seats/  kind "seats"  stream seats:<id>

The consumer is thin: it authenticates (the middleware did the work), asks
the registered StreamKind for a snapshot, and relays the stream's group
messages. What makes it correct is the order on (re)subscription:

1. join the channel-layer group, so every message published from now on is
   queued for this connection;
2. read the stream's last seq S (or, with since=n, the history after n);
3. build the snapshot and send it as seq S (or replay the history);
4. relay queued and later group messages whose seq is above the last one
   sent; smaller or equal seqs are duplicates of what the snapshot or replay
   covered and are dropped.

A replay is one frame per message, or, for clients that negotiated
``tombola.v2``, one ``replay`` frame carrying all of them in order.

Channels dispatches one message at a time per consumer, so group messages
that arrive during 2-3 wait in the channel queue: that queue is the buffer.
A message whose seq jumps past the next expected one (dropped by a full
channel layer, or overtaken by a concurrent publisher) is filled in from the
history before it is sent, so a client sees every seq once, in order. A
lost LAST message has no successor to reveal it: heartbeats carry each
stream's latest seq, and a client that is behind sends ``resume``.

Access is checked again whenever it may have changed: an in-socket ``resume``
checks exactly what a new subscription checks; a control message (an event's
status changed, a screen key of it was revoked; core.streams.control, relayed
to every worker by consumers/relay.py) makes each socket on that event check
again, and a socket whose viewer may no longer watch is closed (4404
``access_revoked``, 4403 ``screen_key_revoked``). Venue screens also re-check
their key at every heartbeat, in case a control message was lost.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder

from consumers import drain
from consumers.limits import LimitedConsumer
from consumers.middleware import user_from_token
from consumers.protocol import (
    CLOSE_FORBIDDEN,
    CLOSE_NOT_FOUND,
    SUBPROTOCOL_V2,
    Auth,
    Ping,
    ProtocolError,
    Resume,
    parse_client_message,
    parse_since,
    unavailable_error,
)
from consumers.relay import relay
from consumers.snapshots import encoded_messages, encoded_replays, shared_builds
from core import metrics, streams
from core.streams import SCREEN_KEY_REVOKED, StreamKind, Viewer

logger = logging.getLogger(__name__)


@dataclass
class Subscription:
    stream: str
    kind: StreamKind | None  # None: the screen stream, whose snapshot is its latest values
    object_id: int
    # The highest seq this client has been given on the stream.
    delivered: int = 0


def _query(scope) -> dict[str, str]:
    parsed = parse_qs(scope.get("query_string", b"").decode("latin1"), keep_blank_values=True)
    return {name: values[-1] for name, values in parsed.items()}


class StreamConsumer(LimitedConsumer):
    def __init__(self, *, kind_name: str, object_is_event: bool = False, **kwargs):
        """Per route (as_asgi kwargs): the kind's name; is the URL's id an event id?"""
        super().__init__(**kwargs)
        self.kind_name = kind_name
        self.object_is_event = object_is_event

    @property
    def user_key(self) -> str | None:
        """The key of this socket's user in a notice's `to` (core.streams.notify)."""
        user = self.viewer.user
        return str(user.pk) if user.is_authenticated else None

    @staticmethod
    def encode_json_sync(content) -> str:
        # Snapshots come straight from selectors (datetimes, Decimals, UUIDs);
        # published messages went through the same encoder in core.streams, so
        # a value looks the same in a snapshot and in a delta.
        return json.dumps(content, cls=DjangoJSONEncoder)

    @classmethod
    async def encode_json(cls, content):
        return cls.encode_json_sync(content)

    async def connect(self):
        self.subscriptions: dict[str, Subscription] = {}
        self.start_limits()
        self.heartbeat = None
        self.relaying = None
        # Access re-checks asked for by control messages (consumers/relay.py): the
        # event ids they named (None: check regardless) and the task running them.
        self.event_id: int | None = None  # the event this socket's streams belong to
        self.screen_key: str | None = None  # the key that made the viewer a screen
        self.recheck_events: set[int | None] = set()
        self.recheck_pending = False
        self.rechecking: asyncio.Task | None = None
        # Stream state (subscriptions, seqs) changes under this lock: group
        # messages are dispatched one at a time anyway, relayed ones are not.
        self.lock = asyncio.Lock()
        # Bounded: a socket that cannot keep up loses messages (counted in
        # tombola_stream_messages_dropped_total) instead of growing without limit;
        # the loss shows as a seq gap (filled from the history) or, at the tail,
        # in the next heartbeat's seqs (the client resumes).
        self.relay_inbox: asyncio.Queue = asyncio.Queue(maxsize=settings.WS_RELAY_INBOX_SIZE)
        self.viewer = Viewer(user=self.scope["user"])
        # Protocol v2 (negotiated by subprotocol): a replay is one frame, not one per message.
        self.replay_as_one_frame = self.scope.get("subprotocol") == SUBPROTOCOL_V2
        # Accept first: a refused handshake cannot carry an error frame.
        await self.accept(subprotocol=self.scope.get("subprotocol"))
        if not await drain.opened(self):  # the worker is draining: closed with 1012
            return
        self.counted_kind = self.kind_name
        metrics.WS_CONNECTIONS.labels(self.counted_kind).inc()
        try:
            self.count_connection()
            # Before the access checks of open_streams: a key revoked or an event
            # unpublished while they run is re-checked once they are done.
            await relay.watch(self)
            async with self.lock:
                await self.open_streams()
        except ProtocolError as exc:
            await self.fail(exc)
            return
        except Exception as exc:
            await self.fail_unavailable(exc)
            return
        self.heartbeat = asyncio.create_task(self.send_heartbeats())

    async def open_streams(self) -> None:
        if self.scope.get("auth_error"):
            raise self.scope["auth_error"]
        self.kind = streams.stream_kind(self.kind_name)
        if self.kind is None:
            raise ProtocolError("unknown_stream", f"No stream kind {self.kind_name!r}.",
                                close_code=CLOSE_NOT_FOUND)
        self.object_id = int(self.scope["url_route"]["kwargs"]["object_id"])
        self.stream = f"{self.kind.name}:{self.object_id}"
        if self.object_is_event:
            self.event_id = self.object_id
        query = _query(self.scope)
        since = parse_since(query.get("since"))
        if "key" in query:
            await self.check_screen_key(query["key"])
        await self.subscribe(Subscription(self.stream, self.kind, self.object_id), since=since)
        if self.viewer.screen:
            await self.join_screen_stream()

    # --- subscribing ----------------------------------------------------------

    async def subscribe(self, subscription: Subscription, *, since: int | None) -> None:
        if settings.STREAM_FANOUT == "relay":
            await relay.join(subscription.stream, self)
            if self.relaying is None:
                self.relaying = asyncio.create_task(self.relay_from_inbox())
        else:
            group = streams.group_name(subscription.stream)
            if group not in self.groups:
                await self.channel_layer.group_add(group, self.channel_name)
                self.groups.append(group)
        self.subscriptions[subscription.stream] = subscription
        if since is None:
            await self.send_snapshot(subscription)
        else:
            # Replaying skips the snapshot, not the access check inside it.
            await self.seq_and_snapshot(subscription)
            await self.replay(subscription, since)

    async def build_snapshot(self, subscription: Subscription) -> Any:
        if subscription.kind is None:
            return await streams.alatest_by_type(subscription.stream)
        data = await database_sync_to_async(subscription.kind.snapshot)(
            subscription.object_id, self.viewer
        )
        if data is None:
            raise ProtocolError("not_found", f"No such stream {subscription.stream!r}.",
                                close_code=CLOSE_NOT_FOUND)
        return data

    async def seq_and_snapshot(self, subscription: Subscription) -> tuple[int, Any]:
        """The stream's seq, then its snapshot, read in that order (see send_snapshot).

        Kinds whose snapshot depends only on the viewer's audience (staff or not,
        screen or not) share one build with the worker's other sockets asking at
        the same moment (consumers/snapshots.py): a reconnect storm costs a few
        builds per stream, not one per socket.
        """
        async def build() -> tuple[int, Any]:
            seq = await streams.alast_seq(subscription.stream)
            return seq, await self.build_snapshot(subscription)

        kind = subscription.kind
        if kind is None or not kind.shared_by_audience:
            return await build()
        audience = (bool(getattr(self.viewer.user, "is_staff", False)), self.viewer.screen)
        seq, data = await shared_builds.get((subscription.stream, audience), build)
        if kind.personalize is not None:
            # After the shared build, so still after the seq: the viewer's part is no
            # older than the seq (deltas are idempotent). No database here, so any thread.
            data = await sync_to_async(kind.personalize, thread_sensitive=False)(
                subscription.object_id, self.viewer, data)
        return seq, data

    async def send_snapshot(self, subscription: Subscription, *, reset: bool = False) -> None:
        # The seq is read BEFORE the snapshot is built: a change committed in
        # between is then both in the snapshot and relayed after it, never in
        # neither (deltas carry absolute values, so applying it twice is harmless).
        seq, data = await self.seq_and_snapshot(subscription)
        frame = {"stream": subscription.stream, "seq": seq, "type": "snapshot",
                 "data": data, "ts": time.time()}
        if reset:
            frame["reset"] = True
        await self.send_json(frame)
        subscription.delivered = seq

    async def replay(self, subscription: Subscription, since: int) -> None:
        """Send what came after `since`, or a reset snapshot when it is out of history."""
        # Sockets resuming at once share one read of the history (a storm of
        # thousands would otherwise each fetch and decode the whole window).
        window = await shared_builds.get(("history", subscription.stream),
                                         lambda: streams.ahistory_window(subscription.stream))
        history = streams.history_from(window, since)
        metrics.RESUMES.labels("reset" if history.reset else "replayed").inc()
        if history.reset or self.resnapshots(subscription, history.messages):
            await self.send_snapshot(subscription, reset=True)
            return
        if self.replay_as_one_frame and history.messages:
            # One frame for the whole replay (its seq: the last message's), shared
            # as text by the sockets of this worker resuming from the same point.
            await self.send(text_data=encoded_replays.text(
                window, since, history.messages, self.encode_json_sync))
        else:
            for message in history.messages:
                await self.send_message(message)
        subscription.delivered = max(history.last_seq, subscription.delivered)

    async def screen_key_ok(self, key: str | None) -> bool:
        return bool(key) and self.kind.screen_key_valid is not None and bool(
            await database_sync_to_async(self.kind.screen_key_valid)(self.object_id, key))

    async def check_screen_key(self, key: str) -> None:
        if not await self.screen_key_ok(key):
            raise ProtocolError("invalid_screen_key", "The screen key is not valid here.",
                                close_code=CLOSE_FORBIDDEN)
        self.viewer = Viewer(user=self.viewer.user, screen=True)
        self.screen_key = key

    # --- checking access again --------------------------------------------------

    async def check_access(self, subscriptions: list[Subscription]) -> None:
        """What a new subscription checks, for subscriptions this socket already has:
        the screen key is still valid, and each object is still visible to this
        viewer (building its snapshot is the check; raises not_found otherwise)."""
        if self.viewer.screen and not await self.screen_key_ok(self.screen_key):
            raise ProtocolError("screen_key_revoked", "This screen key has been revoked.",
                                close_code=CLOSE_FORBIDDEN)
        for subscription in subscriptions:
            if subscription.kind is not None:
                await self.seq_and_snapshot(subscription)

    def control_received(self, message: dict[str, Any]) -> None:
        """A control message from the worker's relay (on this socket's event loop)."""
        if self.closed:
            return
        if message["control"] == SCREEN_KEY_REVOKED and not self.viewer.screen:
            return
        if self.event_id is not None and self.event_id != message["event_id"]:
            return
        self.request_recheck(message["event_id"])

    def request_recheck(self, event_id: int | None) -> None:
        """Check access again soon (once for any number of requests arriving meanwhile);
        event_id None: whatever event this socket is on (the heartbeat's check)."""
        self.recheck_events.add(event_id)
        self.recheck_pending = True
        if self.rechecking is None or self.rechecking.done():
            self.rechecking = asyncio.get_running_loop().create_task(self.recheck_while_asked())

    async def recheck_while_asked(self) -> None:
        while self.recheck_pending and not self.closed:
            self.recheck_pending = False
            events, self.recheck_events = self.recheck_events, set()
            try:
                async with self.lock:
                    await self.recheck_access(events)
            except Exception:
                # A database or Redis outage: keep the socket, the next control
                # message or heartbeat checks again.
                logger.warning("access re-check failed", exc_info=True)

    async def recheck_access(self, events: set[int | None]) -> None:
        if self.closed or not self.subscriptions:
            return
        if self.event_id is None and self.kind.event_of is not None:
            # Once per socket, shared by the worker's sockets on the same object.
            self.event_id = await shared_builds.get(
                ("event_of", self.stream),
                lambda: database_sync_to_async(self.kind.event_of)(self.object_id))
        if None not in events and self.event_id is not None and self.event_id not in events:
            return
        try:
            await self.check_access(list(self.subscriptions.values()))
        except ProtocolError as exc:
            if exc.code == "not_found":
                exc = ProtocolError("access_revoked", "This stream is no longer visible to you.",
                                    close_code=CLOSE_NOT_FOUND)
            await self.fail(exc)

    async def join_screen_stream(self) -> None:
        if self.object_is_event:
            event_id = self.object_id
        elif self.kind.event_of is not None:
            event_id = await database_sync_to_async(self.kind.event_of)(self.object_id)
        else:
            return
        stream = f"screen:{event_id}"
        if event_id is not None and stream not in self.subscriptions:
            await self.subscribe(Subscription(stream, None, event_id), since=None)

    # --- relaying -------------------------------------------------------------

    async def stream_message(self, event) -> None:
        """Group message from core.streams.publish (type "stream.message")."""
        message = event["message"]
        subscription = self.subscriptions.get(message["stream"])
        if subscription is None or self.closed:
            return
        if "notice" in message:  # no seq: not part of the stream's order
            frame = streams.notice_frame(message, self.user_key)
            if frame is not None:
                await self.send(text_data=self.encode_json_sync(frame))
            return
        if message["seq"] > subscription.delivered + 1:
            # A gap: fill it from the history (this also covers out-of-order arrival).
            metrics.SEQ_GAPS.labels(metrics.stream_kind_label(message["stream"])).inc()
            await self.replay(subscription, subscription.delivered)
        if message["seq"] == subscription.delivered + 1:
            if self.resnapshots(subscription, [message]):
                await self.send_snapshot(subscription, reset=True)
                subscription.delivered = max(subscription.delivered, message["seq"])
                return
            await self.send_message(message)
            subscription.delivered = message["seq"]

    @staticmethod
    def resnapshots(subscription: Subscription, messages: list[dict[str, Any]]) -> bool:
        """Is one of `messages` of a type after which this viewer needs a new snapshot?"""
        kind = subscription.kind
        return kind is not None and bool(kind.resnapshot_on) and any(
            message["type"] in kind.resnapshot_on for message in messages)

    async def send_message(self, message: dict[str, Any]) -> None:
        """A stream message, encoded once per worker however many sockets get it."""
        await self.send(text_data=encoded_messages.text(message, self.encode_json_sync))

    async def relay_from_inbox(self) -> None:
        """STREAM_FANOUT = "relay": messages the worker's relay handed to this socket."""
        while True:
            message = await self.relay_inbox.get()
            async with self.lock:
                await self.stream_message({"message": message})

    async def send_heartbeats(self) -> None:
        while not self.closed:
            await asyncio.sleep(settings.WS_HEARTBEAT_SECONDS)
            if not self.closed:
                # What was delivered BEFORE the seqs are read: a seq read afterwards
                # is never below it unless the stream started over.
                delivered = {stream: sub.delivered for stream, sub in self.subscriptions.items()}
                frame = await self.heartbeat_frame()
                await self.send_json(frame)
                await self.reset_restarted_streams(frame.get("seqs", {}), delivered)
                if self.viewer.screen:
                    # In case a control message was lost (a pub/sub reconnect):
                    # a revoked key closes the screen within a heartbeat anyway.
                    self.request_recheck(None)

    async def reset_restarted_streams(self, seqs: dict[str, int],
                                      delivered: dict[str, int]) -> None:
        """A stream whose seq went backwards started over (Redis lost its keys):
        every new message looks like a duplicate to this socket, so send a reset
        snapshot and go on from its seq."""
        for stream, seq in seqs.items():
            subscription = self.subscriptions.get(stream)
            if subscription is not None and seq < delivered.get(stream, 0):
                metrics.SEQ_GAPS.labels(metrics.stream_kind_label(stream)).inc()
                async with self.lock:
                    await self.send_snapshot(subscription, reset=True)

    async def heartbeat_frame(self) -> dict[str, Any]:
        """A heartbeat with each stream's latest seq, so that a client notices a lost tail.

        A message lost in the middle of a burst shows as a gap at the next
        message and is filled here from the history; when the LAST message is
        lost nothing follows it, so the heartbeat carries the stream's latest
        seq and a client that is behind sends ``resume``.
        """
        frame: dict[str, Any] = {"type": "heartbeat", "ts": time.time()}
        try:
            frame["seqs"] = {stream: await streams.alast_seq(stream)
                             for stream in tuple(self.subscriptions)}
        except Exception as exc:
            if unavailable_error(exc) is None:
                raise
            # Redis is down: the heartbeat still says the socket is alive.
        return frame

    # --- client messages ------------------------------------------------------

    async def handle_message(self, content) -> None:
        async with self.lock:
            await self.receive_json(content)

    async def receive_json(self, content, **kwargs):
        message = parse_client_message(content)
        if isinstance(message, Ping):
            await self.send_json({"type": "pong", "ts": time.time()})
        elif isinstance(message, Resume):
            subscription = self.subscriptions.get(message.stream or self.stream)
            if subscription is None:
                raise ProtocolError("not_subscribed", "This connection is not on that stream.")
            # Exactly what a new subscription with `since` checks, then the replay.
            await self.check_access([subscription])
            await self.replay(subscription, message.since)
        elif isinstance(message, Auth):
            await self.authenticate(message)

    async def authenticate(self, message: Auth) -> None:
        if message.token is not None:
            user = await user_from_token(message.token)
            self.count_user(user)  # the per-user cap counts the user it now is
            self.viewer = Viewer(user=user, screen=self.viewer.screen)
        if message.screen_key is not None:
            await self.check_screen_key(message.screen_key)
        user = self.viewer.user
        await self.send_json({"type": "authenticated",
                              "user": user.pk if user.is_authenticated else None,
                              "screen": self.viewer.screen})
        # What the snapshot shows may depend on who is watching.
        await self.send_snapshot(self.subscriptions[self.stream])
        if self.viewer.screen:
            await self.join_screen_stream()

    # --- closing --------------------------------------------------------------

    async def disconnect(self, code):
        await super().disconnect(code)
        drain.closed(self)
        if getattr(self, "counted_kind", None) is not None:
            metrics.WS_CONNECTIONS.labels(self.counted_kind).dec()
            self.counted_kind = None
        for task in (self.heartbeat, self.relaying, getattr(self, "rechecking", None)):
            if task is not None:
                task.cancel()
        relay.unwatch(self)
        for stream in self.subscriptions:
            relay.leave(stream, self)


class UnknownStreamConsumer(AsyncJsonWebsocketConsumer):
    """Any other ws/ path: an error frame, then close 4404 (not a failed handshake)."""

    async def connect(self):
        await self.accept(subprotocol=self.scope.get("subprotocol"))
        error = ProtocolError("unknown_stream", f"No stream at {self.scope['path']!r}.")
        await self.send_json(error.frame())
        await self.close(code=CLOSE_NOT_FOUND)
