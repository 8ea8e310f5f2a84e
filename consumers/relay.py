"""Per-worker fan-out (STREAM_FANOUT = "relay"): sharded subscriptions per process.

With `group_send`, a message to N sockets costs N channel-layer writes. Here
each worker process subscribes to Redis sharded pub/sub channels (SSUBSCRIBE,
Redis 7) and hands each message to its own local consumers' inboxes; the
consumer relays it with the same seq rules as a group message
(consumers/streams.py), so the snapshot/since/resume contract is unchanged.

Channels are sharded by stream: a stream's messages go to
`<prefix>:fanout:{<crc32(stream) mod STREAM_FANOUT_SHARDS>}` (core/streams.py
`fanout_channel`), and a worker subscribes to a shard's channel while it has a
socket on one of the shard's streams (`join`/`leave`), so it decodes its own
streams' messages and a few neighbours', not every event's. On a Redis Cluster
each channel lives on the master of its slot; the relay keeps one connection
per node it needs, and SPUBLISH reaches only that node (a plain PUBLISH is
broadcast to every node of a cluster). Without Redis the fan-out stays
in-process.

A message lost on the way (a connection lost, a failover moving a shard's slot
to another node, or dropped because the socket's inbox already held
WS_RELAY_INBOX_SIZE messages) shows as a seq gap at the next message and is
filled from the history; a lost last message shows in the next heartbeat's
`seqs`, and the client resumes. On any connection error the relay drops every
connection, reloads the cluster's slot map and subscribes again
(docs/decisions/2026-11-30-redis-cluster.md).

Control messages (core.streams.control: an event's status changed, a screen
key was revoked) travel on one more channel, `<prefix>:fanout:{control}`, to
which every worker subscribes, in both fan-out modes: every stream consumer of
the worker `watch`es, and each one concerned re-checks its access
(consumers/streams.py, `control_received`).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import logging
from collections import defaultdict

from django.conf import settings

from core import metrics, streams

logger = logging.getLogger(__name__)

CONTROL_CHANNEL = "control"
# How long join() waits for the server to confirm a new subscription.
SUBSCRIBE_TIMEOUT = 5.0


class ShardSubscriber:
    """SSUBSCRIBE connections of one process: one per Redis node that owns a wanted
    channel (one in all on a single server), each with a task reading its messages.

    `channels` is what the relay wants; the connections follow it. Any error on a
    connection (server gone, MOVED after a failover, a slot migrated away: the server
    then answers `sunsubscribe` for a channel still wanted) tears every connection
    down; `rebuild` reloads the slot map and subscribes everything again.
    """

    def __init__(self, on_message) -> None:
        self.on_message = on_message
        self.channels: set[str] = set()
        self.nodes: dict[tuple[str, int], _NodeConnection] = {}
        # The confirmation of each wanted channel's SSUBSCRIBE on its current connection.
        self.asked: dict[str, asyncio.Future] = {}
        self.lock = asyncio.Lock()
        self.rebuilding: asyncio.Task | None = None
        self.generation = 0  # +1 at each full (re)subscription: tests watch it
        self.closed = False

    async def subscribe(self, channel: str, *, strict: bool = False) -> None:
        """Subscribed (confirmed by the server) on return. When Redis cannot be reached
        the channel stays wanted and the rebuild subscribes it once Redis is back (the
        sockets catch up by their seqs); `strict` raises instead (the first
        subscription of a process: a worker without Redis refuses sockets)."""
        # Most joins are for a shard this worker already has (thousands of sockets on
        # one stream): they wait for its confirmation, if still due, and nothing else.
        asked = self.asked.get(channel)
        if asked is not None and channel in self.channels:
            if not asked.done():
                await asyncio.wait({asked}, timeout=SUBSCRIBE_TIMEOUT)
            return
        self.channels.add(channel)
        if self.rebuilding is not None and not self.rebuilding.done():
            return
        try:
            async with self.lock:
                node = await self._node_for(channel)
                confirmed = self.asked[channel] = node.ask(channel)
            await asyncio.wait({confirmed}, timeout=SUBSCRIBE_TIMEOUT)
        except Exception as exc:
            if strict:
                raise
            self.lost(exc)

    def unsubscribe(self, channel: str) -> None:
        self.channels.discard(channel)
        self.asked.pop(channel, None)
        for node in self.nodes.values():
            if channel in node.channels or channel in node.pending:
                node.drop(channel)

    async def start(self) -> None:
        """Subscribe every wanted channel on the node that owns it; return once the
        servers confirmed (or SUBSCRIBE_TIMEOUT passed)."""
        async with self.lock:
            confirmations = []
            for channel in sorted(self.channels):
                node = await self._node_for(channel)
                self.asked[channel] = node.ask(channel)
                confirmations.append(self.asked[channel])
        if confirmations:
            await asyncio.wait(confirmations, timeout=SUBSCRIBE_TIMEOUT)
        self.generation += 1

    async def _node_for(self, channel: str) -> _NodeConnection:
        address = await asyncio.to_thread(self._address, channel)
        node = self.nodes.get(address)
        if node is None or node.dead:
            node = _NodeConnection(address, self)
            await node.connect()
            self.nodes[address] = node
        return node

    @staticmethod
    def _address(channel: str) -> tuple[str, int]:
        from core.redis import get_redis

        client = get_redis()
        if settings.REDIS_CLUSTER:
            node = client.get_node_from_key(channel)
            return node.host, int(node.port)
        kwargs = client.connection_pool.connection_kwargs
        return kwargs.get("host", "localhost"), int(kwargs.get("port", 6379))

    @property
    def healthy(self) -> bool:
        """Every wanted channel confirmed on a live connection (tests wait for it)."""
        if self.rebuilding is not None and not self.rebuilding.done():
            return False
        confirmed = set()
        for node in self.nodes.values():
            if node.dead:
                return False
            confirmed |= node.channels
        return self.channels <= confirmed

    def lost(self, error: BaseException | None) -> None:
        """A connection failed: start over on every node (once, whatever failed)."""
        if self.closed or (self.rebuilding is not None and not self.rebuilding.done()):
            return
        if error is not None:
            logger.warning("fan-out subscription lost (%s); resubscribing", error)
        self.rebuilding = asyncio.get_running_loop().create_task(self.rebuild())

    async def rebuild(self) -> None:
        await self.close_connections()
        while not self.closed:
            await asyncio.sleep(0.5)
            try:
                if settings.REDIS_CLUSTER:
                    from core.redis import get_redis

                    # The slot map after a failover: the promoted replica owns the slots.
                    await asyncio.to_thread(get_redis().nodes_manager.initialize)
                await self.start()
                return
            except Exception as exc:  # Redis still down: try again
                logger.warning("fan-out resubscription failed (%s); retrying", exc)
                await self.close_connections()

    async def close_connections(self) -> None:
        nodes, self.nodes, self.asked = list(self.nodes.values()), {}, {}
        for node in nodes:
            await node.close()

    async def close(self) -> None:
        self.closed = True
        if self.rebuilding is not None:
            self.rebuilding.cancel()
        await self.close_connections()


class _NodeConnection:
    """One SSUBSCRIBE connection to one Redis node, and its reading task."""

    def __init__(self, address: tuple[str, int], owner: ShardSubscriber) -> None:
        self.address = address
        self.owner = owner
        self.channels: set[str] = set()
        self.pending: dict[str, asyncio.Future] = {}
        self.dropping: set[str] = set()  # SUNSUBSCRIBE sent, not yet confirmed
        self.connection = None
        self.reader: asyncio.Task | None = None
        self.dead = False

    async def connect(self) -> None:
        import redis.asyncio

        if settings.REDIS_CLUSTER:
            host, port = self.address
            connection = redis.asyncio.Connection(
                host=host, port=port, socket_timeout=None, socket_connect_timeout=2)
        else:
            pool = redis.asyncio.ConnectionPool.from_url(
                settings.REDIS_URL, socket_timeout=None, socket_connect_timeout=2)
            connection = pool.make_connection()
        await connection.connect()
        self.connection = connection
        self.reader = asyncio.get_running_loop().create_task(self.read())

    def ask(self, channel: str) -> asyncio.Future:
        """Send SSUBSCRIBE (once per channel); the future is done when it is confirmed."""
        future = self.pending.get(channel)
        if future is not None:
            return future
        future = asyncio.get_running_loop().create_future()
        if channel in self.channels and channel not in self.dropping:
            future.set_result(None)
            return future
        self.pending[channel] = future
        self._send("SSUBSCRIBE", channel)
        return future

    def drop(self, channel: str) -> None:
        if channel in self.pending:
            # Still wanted a moment ago: the confirmation comes, then the drop.
            self.pending.pop(channel).set_result(None)
        self.dropping.add(channel)
        self._send("SUNSUBSCRIBE", channel)

    def _send(self, *command: str) -> None:
        async def send() -> None:
            try:
                await self.connection.send_command(*command, check_health=False)
            except Exception as exc:
                self.fail(exc)

        asyncio.get_running_loop().create_task(send())

    async def read(self) -> None:
        try:
            while True:
                reply = await self.connection.read_response(disconnect_on_error=False)
                if isinstance(reply, Exception):  # e.g. MOVED: the slot map changed
                    raise reply
                kind, channel = reply[0], reply[1].decode()
                if kind == b"smessage":
                    self.owner.on_message(reply[2])
                elif kind == b"ssubscribe":
                    self.channels.add(channel)
                    future = self.pending.pop(channel, None)
                    if future is not None and not future.done():
                        future.set_result(None)
                elif kind == b"sunsubscribe":
                    self.channels.discard(channel)
                    if channel in self.dropping:
                        self.dropping.discard(channel)
                    elif channel in self.owner.channels:
                        # Not ours: the slot moved to another node (a failover).
                        raise ConnectionError(f"{channel} moved away from {self.address}")
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.fail(exc)

    def fail(self, error: BaseException) -> None:
        if not self.dead:
            self.dead = True
            self.owner.lost(error)

    async def close(self) -> None:
        self.dead = True
        for future in self.pending.values():
            if not future.done():
                future.cancel()
        if self.reader is not None and self.reader is not asyncio.current_task():
            self.reader.cancel()
            with contextlib.suppress(BaseException):
                await self.reader
        if self.connection is not None:
            with contextlib.suppress(Exception):
                await self.connection.disconnect(nowait=True)


class WorkerRelay:
    def __init__(self) -> None:
        self.listeners: dict[str, set] = defaultdict(set)
        # Streams with a listener here, per relay shard: a shard's channel is
        # subscribed while its set is not empty.
        self.shards: dict[int, set[str]] = defaultdict(set)
        # Every stream consumer of this worker, whatever STREAM_FANOUT: control messages.
        self.watchers: set = set()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.subscriber: ShardSubscriber | None = None
        self.started = False
        self.start_lock: asyncio.Lock | None = None

    async def join(self, stream: str, consumer) -> None:
        """Deliver `stream` to consumer.relay_inbox from now on (subscribed on return)."""
        await self._start()
        self.listeners[stream].add(consumer)
        shard = streams.fanout_shard(stream)
        self.shards[shard].add(stream)
        if self.subscriber is not None:
            await self.subscriber.subscribe(streams.fanout_channel(shard))

    async def watch(self, consumer) -> None:
        """Hand control messages to consumer.control_received from now on."""
        await self._start()
        self.watchers.add(consumer)

    def unwatch(self, consumer) -> None:
        self.watchers.discard(consumer)

    def leave(self, stream: str, consumer) -> None:
        listeners = self.listeners.get(stream)
        if listeners is None:
            return
        listeners.discard(consumer)
        if listeners:
            return
        del self.listeners[stream]
        shard = streams.fanout_shard(stream)
        self.shards[shard].discard(stream)
        if not self.shards[shard]:
            del self.shards[shard]
            if self.subscriber is not None:
                self.subscriber.unsubscribe(streams.fanout_channel(shard))

    @property
    def channels(self) -> set[str]:
        """The pub/sub channels this worker wants (tests, metrics)."""
        return set() if self.subscriber is None else set(self.subscriber.channels)

    def received(self, raw: bytes) -> None:
        self.deliver(json.loads(raw))

    def deliver(self, message: dict) -> None:
        if "control" in message:
            for consumer in tuple(self.watchers):
                consumer.control_received(message)
            return
        listeners = tuple(self.listeners.get(message["stream"], ()))
        if "notice" in message:  # for a few users: skip every other socket here
            to = message["to"]
            listeners = tuple(c for c in listeners if c.user_key in to)
        for consumer in listeners:
            try:
                consumer.relay_inbox.put_nowait(message)
            except asyncio.QueueFull:
                # The socket is WS_RELAY_INBOX_SIZE messages behind: drop for it only.
                metrics.MESSAGES_DROPPED.labels(
                    metrics.stream_kind_label(message["stream"])).inc()

    def deliver_threadsafe(self, message: dict) -> None:
        """In-process fan-out: publish() may run in any thread; deliver on the relay's loop."""
        loop = self.loop
        if loop is not None and not loop.is_closed():
            # A fresh context: the publisher's (a database_sync_to_async thread's) would
            # make the consumers' own database calls refuse to run ("would deadlock").
            loop.call_soon_threadsafe(self.deliver, message, context=contextvars.Context())

    async def _start(self) -> None:
        loop = asyncio.get_running_loop()
        if self.loop is not loop:
            # A new event loop (tests run one per test): start over on it. The old
            # loop's connections went with it.
            self.loop, self.listeners, self.watchers = loop, defaultdict(set), set()
            self.shards = defaultdict(set)
            self.started, self.start_lock, self.subscriber = False, asyncio.Lock(), None
        if self.started:
            return
        # Two consumers connecting at once on a new loop: the second waits until
        # the first has subscribed, instead of returning before anything listens.
        async with self.start_lock:
            if self.started:
                return
            if settings.REDIS_URL:
                subscriber = ShardSubscriber(self.received)
                try:
                    await subscriber.subscribe(
                        streams.fanout_channel(CONTROL_CHANNEL), strict=True)
                    subscriber.generation += 1
                except BaseException:
                    await subscriber.close()
                    raise
                self.subscriber = subscriber
            else:
                streams.set_local_fanout(self.deliver_threadsafe)
            self.started = True


relay = WorkerRelay()
