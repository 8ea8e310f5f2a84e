"""consumers/snapshots.py: sockets asking for one key at once share a build, and
never one that started before they asked (the seq must be read after they joined)."""

import asyncio

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
