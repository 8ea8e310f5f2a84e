"""Subscribe, snapshot and relay race: clients connect while messages are published.

Every client must see a snapshot that is not behind its seq, then every later
seq exactly once and in order, and end in the publisher's final state.
"""

import asyncio
import threading
import time

import pytest
from asgiref.sync import sync_to_async

from core import streams
from core.errors import UnknownMessageType
from core.streams import StreamKind
from tests.stream_helpers import (
    apply,
    connected,
    fanout,  # noqa: F401 (fixture: both fan-out modes)
    fresh_channel_layer,  # noqa: F401 (autouse)
    receive,
    swap_stream_kind,
)

# The consumer goes through database_sync_to_async, which touches the connection.
pytestmark = pytest.mark.django_db

STREAM = "event:1"
MESSAGES = 60
CLIENTS = 12


class Counter:
    """The "database" of this kind: changed first, published after (like on_commit)."""

    def __init__(self) -> None:
        self.value = 0
        self.lock = threading.Lock()

    def bump_and_publish(self) -> None:
        with self.lock:
            self.value += 1
            value = self.value
        streams.publish(STREAM, "counter.changed", counter_changed_data(value))

    def snapshot(self, object_id, viewer):
        with self.lock:
            value = self.value
        time.sleep(0.005)  # widen the window between the seq read and the relay
        return {"count": value}


def counter_changed_data(count: int) -> dict:
    return {"count": count}


def reduce_counter(state, message):
    if message["type"] != "counter.changed":
        raise UnknownMessageType("event", message["type"])
    return {"count": message["data"]["count"]}


def counter_kind(snapshot, *, shared: bool) -> StreamKind:
    return StreamKind(name="event", snapshot=snapshot, shared_by_audience=shared,
                      messages={"counter.changed": counter_changed_data}, apply=reduce_counter)


@pytest.mark.usefixtures("fanout")
@pytest.mark.parametrize("shared", [False, True], ids=["own-snapshots", "shared-snapshots"])
async def test_clients_connecting_during_publishing_see_no_gap_and_no_duplicate(shared):
    counter = Counter()
    kind = counter_kind(counter.snapshot, shared=shared)
    bump = sync_to_async(counter.bump_and_publish, thread_sensitive=False)

    async def publisher():
        for _ in range(MESSAGES):
            await bump()
            await asyncio.sleep(0.002)

    async def client(start_after: int):
        while counter.value < start_after:  # join at different points of the stream
            await asyncio.sleep(0.001)
        ws = await connected("/ws/events/1/")
        snapshot = await receive(ws, timeout=5)
        frames = []
        while (frames[-1]["seq"] if frames else snapshot["seq"]) < MESSAGES:
            frames.append(await receive(ws, timeout=5))
        await ws.disconnect()
        return snapshot, frames

    with swap_stream_kind(kind):
        results = await asyncio.gather(
            publisher(), *(client(i * MESSAGES // CLIENTS) for i in range(CLIENTS))
        )
        for snapshot, frames in results[1:]:
            assert snapshot["data"]["count"] >= snapshot["seq"], "snapshot behind its seq"
            assert [f["seq"] for f in frames] == list(range(snapshot["seq"] + 1, MESSAGES + 1))
            assert apply("event", snapshot["data"], frames) == {"count": MESSAGES}
        # The clients really did connect at different points of the stream.
        assert len({snapshot["seq"] for snapshot, _ in results[1:]}) > 3


@pytest.mark.usefixtures("fanout")
async def test_a_storm_of_sockets_shares_snapshot_builds_and_misses_nothing():
    """Sockets connecting at one instant while the stream publishes share a few
    snapshot builds (consumers/snapshots.py), and each still gets every later
    seq once, in order, from a snapshot that is not behind its seq."""
    counter = Counter()
    calls = []

    def snapshot(object_id, viewer):
        calls.append(object_id)
        return counter.snapshot(object_id, viewer)

    kind = counter_kind(snapshot, shared=True)
    bump = sync_to_async(counter.bump_and_publish, thread_sensitive=False)
    sockets = 40

    async def publisher():
        for _ in range(MESSAGES):
            await bump()
            await asyncio.sleep(0.002)

    async def client():
        ws = await connected("/ws/events/1/")
        snapshot = await receive(ws, timeout=10)
        frames = []
        while (frames[-1]["seq"] if frames else snapshot["seq"]) < MESSAGES:
            frames.append(await receive(ws, timeout=10))
        await ws.disconnect()
        return snapshot, frames

    with swap_stream_kind(kind):
        results = await asyncio.gather(publisher(), *(client() for _ in range(sockets)))
        for snapshot, frames in results[1:]:
            assert snapshot["data"]["count"] >= snapshot["seq"], "snapshot behind its seq"
            assert [f["seq"] for f in frames] == list(range(snapshot["seq"] + 1, MESSAGES + 1))
            assert apply("event", snapshot["data"], frames) == {"count": MESSAGES}
    # One build per socket without sharing; far fewer with it.
    assert len(calls) < sockets / 2, f"{len(calls)} builds for {sockets} sockets"
