"""Per-worker fan-out (STREAM_FANOUT = "relay"): one subscription per process.

With `group_send`, a message to N sockets costs N channel-layer writes. Here
each worker process subscribes once (Redis pub/sub channel `<prefix>:fanout`,
or in-process when there is no Redis) and hands each message to its own local
consumers' inboxes; the consumer relays it with the same seq rules as a group
message (consumers/streams.py), so the snapshot/since/resume contract is
unchanged. A message lost on the way (a pub/sub reconnect, or dropped because
the socket's inbox already held WS_RELAY_INBOX_SIZE messages) shows as a seq
gap at the next message and is filled from the history; a lost last message
shows in the next heartbeat's `seqs`, and the client resumes.

The same subscription carries control messages (core.streams.control: an
event's status changed, a screen key was revoked) in both fan-out modes: every
stream consumer of the worker `watch`es, and each one concerned re-checks its
access (consumers/streams.py, `control_received`).
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
from core.redis import key

logger = logging.getLogger(__name__)


def fanout_channel() -> str:
    return key("fanout")


class WorkerRelay:
    def __init__(self) -> None:
        self.listeners: dict[str, set] = defaultdict(set)
        # Every stream consumer of this worker, whatever STREAM_FANOUT: control messages.
        self.watchers: set = set()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.task: asyncio.Task | None = None
        self.pubsub = None
        self.started = False
        self.start_lock: asyncio.Lock | None = None

    async def join(self, stream: str, consumer) -> None:
        """Deliver `stream` to consumer.relay_inbox from now on (subscribed on return)."""
        await self._start()
        self.listeners[stream].add(consumer)

    async def watch(self, consumer) -> None:
        """Hand control messages to consumer.control_received from now on."""
        await self._start()
        self.watchers.add(consumer)

    def unwatch(self, consumer) -> None:
        self.watchers.discard(consumer)

    def leave(self, stream: str, consumer) -> None:
        listeners = self.listeners.get(stream)
        if listeners is not None:
            listeners.discard(consumer)
            if not listeners:
                del self.listeners[stream]

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
            # A new event loop (tests run one per test): start over on it.
            self.loop, self.listeners, self.watchers = loop, defaultdict(set), set()
            self.started, self.start_lock, self.pubsub = False, asyncio.Lock(), None
        if self.started:
            return
        # Two consumers connecting at once on a new loop: the second waits until
        # the first has subscribed, instead of returning before anything listens.
        async with self.start_lock:
            if self.started:
                return
            if settings.REDIS_URL:
                self.pubsub = await self._subscribe()
                self.task = loop.create_task(self._listen())
            else:
                streams.set_local_fanout(self.deliver_threadsafe)
            self.started = True

    async def _subscribe(self):
        import redis.asyncio

        client = redis.asyncio.Redis.from_url(settings.REDIS_URL, socket_timeout=None)
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(fanout_channel())
        except BaseException:
            await _close(pubsub)
            raise
        return pubsub

    async def _listen(self) -> None:
        while True:
            try:
                async for item in self.pubsub.listen():
                    if item["type"] == "message":
                        self.deliver(json.loads(item["data"]))
                logger.warning("fan-out subscription ended; resubscribing")
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("fan-out subscription lost; resubscribing")
            # Close the old subscription and its connection pool: left open, each
            # resubscribe leaked one (and its socket, once it reconnected).
            await _close(self.pubsub)
            await asyncio.sleep(1)
            with contextlib.suppress(Exception):
                self.pubsub = await self._subscribe()


async def _close(pubsub) -> None:
    with contextlib.suppress(Exception):
        await pubsub.aclose()
    with contextlib.suppress(Exception):
        await pubsub.connection_pool.aclose()


relay = WorkerRelay()
