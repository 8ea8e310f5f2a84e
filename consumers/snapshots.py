"""Work shared by the sockets of one worker: snapshot and history builds, message encoding.

Sockets of one worker that need the same snapshot at once share one build.

A reconnect storm (a venue's Wi-Fi comes back, a worker restarts) brings
thousands of sockets to the same stream within a second. Each needs the stream's
seq and its snapshot (or, resuming with `since`, the access check that building
the snapshot is). Built one by one, every socket costs a database round trip on
the worker's one database thread: 5,000 sockets were 5,000 queued snapshot
builds (docs/performance.md, reconnect storm).

Here the sockets asking for the same key (stream, and the part of the viewer
the snapshot depends on) while a build for that key runs wait for the *next*
build, which starts when the running one ends and serves all of them. So at
most one build per key runs at a time and one more is collecting sockets.

Why a socket never joins a build that has already started: the seq must be
read after the socket joined the stream's fan-out (consumers/streams.py,
`send_snapshot`), or a message published in between would reach it neither in
the snapshot nor as a delta. A socket joins the fan-out before it asks here,
and the build it joins reads the seq only when it starts, later.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Any


class SharedBuilds:
    def __init__(self) -> None:
        # key -> the build that has not started yet (sockets may still join it)
        self.waiting: dict[Hashable, asyncio.Future] = {}
        # key -> the task of the latest build (running or waiting to run)
        self.latest: dict[Hashable, asyncio.Task] = {}
        self.loop: asyncio.AbstractEventLoop | None = None
        self.builds = 0  # builds started (tests check how many were shared)

    async def get(self, key: Hashable, build: Callable[[], Awaitable[Any]]) -> Any:
        loop = asyncio.get_running_loop()
        if self.loop is not loop:  # a new event loop (tests run one per test)
            self.loop, self.waiting, self.latest = loop, {}, {}
        future = self.waiting.get(key)
        if future is None:
            future = loop.create_future()
            # Nobody may be left to read an error (all sockets closed): mark it read.
            future.add_done_callback(lambda f: f.cancelled() or f.exception())
            self.waiting[key] = future
            previous = self.latest.get(key)
            task = loop.create_task(self._run(key, future, build, previous))
            self.latest[key] = task
            task.add_done_callback(lambda t, key=key: self._forget(key, t))
        # A socket that closes while waiting must not cancel the others' build.
        return await asyncio.shield(future)

    async def _run(self, key: Hashable, future: asyncio.Future,
                   build: Callable[[], Awaitable[Any]], previous: asyncio.Task | None) -> None:
        if previous is not None:
            await asyncio.wait([previous])
        if self.waiting.get(key) is future:
            del self.waiting[key]  # from here on, new sockets wait for the next build
        self.builds += 1
        try:
            result = await build()
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as exc:
            future.set_exception(exc)
        else:
            future.set_result(result)

    def _forget(self, key: Hashable, task: asyncio.Task) -> None:
        if self.latest.get(key) is task:
            del self.latest[key]


class EncodedMessages:
    """The JSON text of recent stream messages, per message object.

    The relay hands one dict to every socket of the worker on a stream, and a
    shared history read hands the same dicts to every resuming socket: each is
    encoded once, not once per socket. Keyed by the object (kept alive by the
    entry, so its id cannot be reused), not by (stream, seq): seqs start over
    when Redis restarts, objects do not repeat.
    """

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self.texts: OrderedDict[int, tuple[dict, str]] = OrderedDict()

    def text(self, message: dict, encode: Callable[[dict], str]) -> str:
        entry = self.texts.get(id(message))
        if entry is not None and entry[0] is message:
            return entry[1]
        text = encode(message)
        self.texts[id(message)] = (message, text)
        if len(self.texts) > self.size:
            self.texts.popitem(last=False)
        return text


class EncodedReplays:
    """The JSON text of `replay` frames (protocol v2), per history window and `since`.

    Sockets resuming at once share one history read (a window object, see
    consumers/streams.py `replay`); those that resume from the same seq need the
    same frame, so it is encoded once per worker: a storm of thousands of
    sockets costs a few frames' encoding, not one per socket and message. The
    frame is assembled from the messages' own texts (EncodedMessages), so a
    message is encoded once whether it goes out alone or inside a replay.
    """

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self.texts: OrderedDict[tuple[int, int], tuple[object, str]] = OrderedDict()

    def text(self, window: object, since: int, messages: list[dict],
             encode: Callable[[dict], str]) -> str:
        key = (id(window), since)
        entry = self.texts.get(key)
        if entry is not None and entry[0] is window:
            return entry[1]
        last = messages[-1]
        head = encode({"stream": last["stream"], "seq": last["seq"], "type": "replay"})
        body = ", ".join(encoded_messages.text(message, encode) for message in messages)
        # {"stream": ..., "seq": ..., "type": "replay", "data": {"messages": [...]}, "ts": ...}
        text = f'{head[:-1]}, "data": {{"messages": [{body}]}}, "ts": {time.time()!r}}}'
        self.texts[key] = (window, text)  # the window kept alive: its id is not reused
        if len(self.texts) > self.size:
            self.texts.popitem(last=False)
        return text


shared_builds = SharedBuilds()
encoded_messages = EncodedMessages()
encoded_replays = EncodedReplays()
