"""consumers/snapshots.py: sockets asking for one key at once share a build, and
never one that started before they asked (the seq must be read after they joined)."""

import asyncio
import json

import pytest

from consumers.snapshots import SharedBuilds


async def test_waiters_share_the_next_build_never_one_already_started():
    builds = SharedBuilds()
    started = []  # per build: how many sockets had asked when it started
    asked = 0
    release = asyncio.Event()

    async def build():
        started.append(asked)
        number = len(started)
        await release.wait()
        return number

    async def ask():
        nonlocal asked
        asked += 1
        mine = asked
        number = await builds.get("event:1", build)
        # The build this socket got started after it asked.
        assert started[number - 1] >= mine
        return number

    first = asyncio.create_task(ask())
    await asyncio.sleep(0)  # the first build starts and blocks
    await asyncio.sleep(0)
    rest = [asyncio.create_task(ask()) for _ in range(20)]
    await asyncio.sleep(0)
    release.set()
    results = await asyncio.gather(first, *rest)
    assert results == [1] + [2] * 20
    assert builds.builds == 2


async def test_different_keys_build_separately():
    builds = SharedBuilds()

    async def build_for(key):
        await asyncio.sleep(0)
        return key

    results = await asyncio.gather(*(builds.get(k, lambda k=k: build_for(k))
                                     for k in ["a", "b", "a", "b"]))
    assert results == ["a", "b", "a", "b"]
    assert builds.builds == 2


async def test_an_error_reaches_every_waiter_and_the_next_build_runs_afresh():
    builds = SharedBuilds()
    outcomes = iter([LookupError("gone"), "ok"])

    async def build():
        await asyncio.sleep(0)
        outcome = next(outcomes)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    results = await asyncio.gather(*(builds.get("k", build) for _ in range(5)),
                                   return_exceptions=True)
    assert all(isinstance(r, LookupError) for r in results)
    assert await builds.get("k", build) == "ok"


async def test_a_socket_closing_while_it_waits_does_not_cancel_the_others_build():
    builds = SharedBuilds()
    release = asyncio.Event()

    async def build():
        await release.wait()
        return "snapshot"

    leaving = asyncio.create_task(builds.get("k", build))
    staying = asyncio.create_task(builds.get("k", build))
    await asyncio.sleep(0)
    leaving.cancel()
    release.set()
    assert await staying == "snapshot"
    with pytest.raises(asyncio.CancelledError):
        await leaving


def test_a_message_is_encoded_once_per_object():
    from consumers.snapshots import EncodedMessages

    texts = EncodedMessages(size=2)
    message = {"stream": "event:1", "seq": 1, "type": "t", "data": {"a": 1}}
    calls = []

    def encode(m):
        calls.append(m)
        return json.dumps(m)

    assert texts.text(message, encode) == json.dumps(message)
    assert texts.text(message, encode) == json.dumps(message)
    assert len(calls) == 1
    # Equal content in another object (seqs restart with Redis) is encoded on its own.
    restarted = {"stream": "event:1", "seq": 1, "type": "t", "data": {"a": 2}}
    assert json.loads(texts.text(restarted, encode))["data"] == {"a": 2}
    # Bounded: the oldest entry goes.
    texts.text({"seq": 3}, encode)
    assert len(texts.texts) == 2
    texts.text(message, encode)
    assert len(calls) == 4


@pytest.mark.django_db
async def test_sockets_resuming_at_once_share_one_history_read(monkeypatch):
    from core import streams
    from core.streams import StreamKind
    from tests.stream_helpers import connected, receive, swap_stream_kind

    kind = StreamKind(name="event", snapshot=lambda object_id, viewer: {"id": object_id},
                      shared_by_audience=True)
    for number in range(1, 11):
        streams.publish("event:1", "counter.changed", {"count": number})
    reads = []
    real_window = streams.ahistory_window

    async def counted_window(stream):
        reads.append(stream)
        return await real_window(stream)

    monkeypatch.setattr(streams, "ahistory_window", counted_window)
    sockets = 30

    async def resume(since):
        ws = await connected(f"/ws/events/1/?since={since}")
        frames = [await receive(ws, timeout=10) for _ in range(10 - since)]
        await ws.disconnect()
        return since, frames

    with swap_stream_kind(kind):
        results = await asyncio.gather(*(resume(i % 5) for i in range(sockets)))
    for since, frames in results:
        assert [f["seq"] for f in frames] == list(range(since + 1, 11))
        assert [f["data"]["count"] for f in frames] == list(range(since + 1, 11))
    assert len(reads) < sockets / 2, f"{len(reads)} history reads for {sockets} sockets"
