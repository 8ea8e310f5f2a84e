"""Helpers for stream tests: connect, collect frames, and verify_action.

verify_action is Zulip's habit (STYLE.md): take a snapshot, run the action,
apply the published messages with the kind's own reducer (``StreamKind.apply``
from the registry), fetch a fresh snapshot, assert the two are equal. A
missing, wrong or non-idempotent delta fails the test by itself, and so does a
message type the kind's reducer does not know (it raises). One check, two ways
to collect the messages:

- ``verify_action`` (sync): the messages the stream's history holds after the
  snapshot's seq, i.e. what a client resuming from it is given;
- ``averify_action`` (async): the frames a real socket on the consumer receives.

Kinds are module-level (core.streams); tests that need their own kind (or
reducer: ``dataclasses.replace(kind, apply=...)``) use `swap_stream_kind` so
that the registry is restored afterwards.
"""

from __future__ import annotations

import contextlib
import copy
import json
from collections.abc import Callable
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import TestCase

from core import streams
from core.errors import UnknownMessageType
from core.jsonutil import to_jsonable
from core.streams import StreamKind, StreamMessage, Viewer

ORIGIN = (b"origin", b"http://127.0.0.1")
# server_time is the server's clock when the snapshot was built: it differs
# between any two snapshots (live/streams.py).
VOLATILE = ("server_time",)


@pytest.fixture(autouse=True)
def fresh_channel_layer():
    """A new channel layer per test, and no database connection left behind
    (import this fixture into WebSocket test modules).

    The layer is process-wide but each async test has its own event loop; a
    consumer left running by a test (the server closed it, nobody sent the
    disconnect) would leave channels-redis receiving on a dead loop.
    """
    from asgiref.sync import SyncToAsync
    from channels.layers import channel_layers
    from django.db import connections

    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()
    # database_sync_to_async ran the consumers' queries in asgiref's one
    # database thread; close its connection so that the test database can be
    # dropped at the end of the run.
    SyncToAsync.single_thread_executor.submit(connections.close_all).result(timeout=10)


@pytest.fixture(params=["group", "relay"])
def fanout(request, settings):
    """Run a test under both STREAM_FANOUT modes: the contract must not depend on it."""
    settings.STREAM_FANOUT = request.param
    return request.param


@contextlib.contextmanager
def swap_stream_kind(kind: StreamKind):
    """Register `kind` for the duration of the block, then restore what was there."""
    previous = streams.unregister_stream_kind(kind.name)
    streams.register_stream_kind(kind)
    try:
        yield kind
    finally:
        streams.unregister_stream_kind(kind.name)
        if previous is not None:
            streams.register_stream_kind(previous)


def communicator(path: str, *, headers=None, subprotocols=None, origin=True):
    from routing import application

    headers = list(headers or [])
    if origin:
        headers.append(ORIGIN)
    return WebsocketCommunicator(application, path, headers=headers, subprotocols=subprotocols)


async def connected(path: str, **kwargs) -> WebsocketCommunicator:
    ws = communicator(path, **kwargs)
    accepted, _ = await ws.connect()
    assert accepted, path
    return ws


async def receive(ws: WebsocketCommunicator, timeout: float = 2) -> dict[str, Any]:
    return json.loads(await ws.receive_from(timeout))


async def receive_stream_frames(ws, stream: str, *, until_seq: int,
                                timeout: float = 2) -> list[dict[str, Any]]:
    """Frames of `stream` up to and including seq `until_seq` (other frames skipped, and
    notices: frames without a seq, outside the stream's order)."""
    frames = []
    while not frames or frames[-1]["seq"] < until_seq:
        frame = await receive(ws, timeout)
        if frame.get("stream") == stream and "seq" in frame:
            frames.append(frame)
    return frames


async def closed_with(ws, timeout: float = 2) -> tuple[list[dict[str, Any]], int]:
    """Frames received before the server closed, and the close code."""
    frames = []
    while True:
        output = await ws.receive_output(timeout)
        if output["type"] == "websocket.close":
            return frames, output.get("code", 1000)
        frames.append(json.loads(output["text"]))


def _kind(name: str) -> StreamKind:
    kind = streams.stream_kind(name)
    assert kind is not None, f"no stream kind {name!r} registered"
    return kind


def apply(kind: str, state: Any, messages: list[StreamMessage]) -> Any:
    """Apply deltas with the registered kind's reducer, checking each is idempotent.

    A snapshot may already contain the effect of a message relayed right after
    it (docs/websocket-protocol.md, "Ordering"), so applying a delta twice must
    change nothing. A type the kind does not declare fails even if its reducer
    would swallow it.
    """
    registered = _kind(kind)
    for message in messages:
        if message["type"] == "snapshot" and message.get("reset"):
            # What a consumer sends instead of a message of a `resnapshot_on` type.
            state = message["data"]
            continue
        if message["type"] in registered.resnapshot_on:
            raise AssertionError(
                f"{message['type']} is answered with a new snapshot by the consumer: "
                "check it through a socket (averify_action)")
        if message["type"] not in registered.messages:
            raise UnknownMessageType(kind, message["type"])
        once = registered.apply(copy.deepcopy(state), message)
        twice = registered.apply(copy.deepcopy(once), message)
        assert twice == once, f"delta {message['type']} is not idempotent"
        state = once
    return state


def _assert_deltas_reach_fresh_snapshot(*, kind: str, object_id: int, viewer: Viewer,
                                        snapshot: Any, first_seq: int, last_seq: int,
                                        deltas: list[StreamMessage], ignore: tuple[str, ...]):
    """The one check: deltas after the snapshot, applied to it, give a fresh snapshot."""
    seqs = [message["seq"] for message in deltas if message["type"] != "snapshot"]
    if len(seqs) == len(deltas):
        assert seqs == list(range(first_seq + 1, last_seq + 1)), "gap or duplicate in deltas"
    else:  # a reset snapshot stands for the message it answered, and carries a later seq
        assert [m["seq"] for m in deltas] == sorted({m["seq"] for m in deltas}), \
            "deltas out of order"
        assert deltas[-1]["seq"] == last_seq, "deltas stop short of the stream's seq"
    applied = apply(kind, to_jsonable(snapshot), deltas)
    fresh = to_jsonable(_kind(kind).snapshot(object_id, viewer))
    if isinstance(applied, dict) and isinstance(fresh, dict):
        applied = {k: v for k, v in applied.items() if k not in ignore}
        fresh = {k: v for k, v in fresh.items() if k not in ignore}
    assert applied == fresh


def _viewer(viewer: Viewer | None) -> Viewer:
    from django.contrib.auth.models import AnonymousUser

    return viewer or Viewer(user=AnonymousUser())


def verify_action(*, kind: str, object_id: int, action: Callable[[], Any],
                  viewer: Viewer | None = None,
                  ignore: tuple[str, ...] = VOLATILE) -> list[StreamMessage]:
    """Snapshot, run `action` (its on_commit callbacks too), apply deltas, compare.

    The deltas are what the stream's history holds after the snapshot's seq.
    Returns them so that tests can assert on them too.
    """
    viewer = _viewer(viewer)
    stream = f"{kind}:{object_id}"
    seq = streams.last_seq(stream)  # read before the snapshot, as the consumer does
    snapshot = _kind(kind).snapshot(object_id, viewer)
    assert snapshot is not None, f"{stream} has no snapshot for this viewer"
    with TestCase.captureOnCommitCallbacks(execute=True):
        action()
    history = streams.history_since(stream, seq)
    assert not history.reset, "deltas fell out of the history"
    _assert_deltas_reach_fresh_snapshot(
        kind=kind, object_id=object_id, viewer=viewer, snapshot=snapshot, first_seq=seq,
        last_seq=history.last_seq, deltas=history.messages, ignore=ignore)
    return history.messages


async def averify_action(*, kind: str, object_id: int, action: Callable[[], Any],
                         path: str, viewer: Viewer | None = None,
                         ignore: tuple[str, ...] = VOLATILE,
                         **connect_kwargs) -> list[StreamMessage]:
    """verify_action through a socket: the snapshot and deltas are the frames a
    client on `path` receives; `action` runs sync, in the database thread."""
    stream = f"{kind}:{object_id}"
    ws = await connected(path, **connect_kwargs)
    try:
        snapshot = await receive(ws)
        assert (snapshot["type"], snapshot["stream"]) == ("snapshot", stream)
        await database_sync_to_async(action)()
        last = await sync_to_async(streams.last_seq)(stream)
        deltas = await receive_stream_frames(ws, stream, until_seq=last) if last > snapshot[
            "seq"] else []
    finally:
        await ws.disconnect()
    await database_sync_to_async(_assert_deltas_reach_fresh_snapshot)(
        kind=kind, object_id=object_id, viewer=_viewer(viewer), snapshot=snapshot["data"],
        first_seq=snapshot["seq"], last_seq=last, deltas=deltas, ignore=ignore)
    return deltas


# --- A test kind: "event" over core.Event ------------------------------------
# The real "event" kind belongs to live; this one exercises the consumer with
# a snapshot that reads the database and depends on the viewer.


def screen_key_for(event_id: int) -> str:
    return f"screen-{event_id}"


def demo_event_snapshot(event_id: int, viewer: Viewer) -> dict[str, Any] | None:
    from core.models import Event

    event = Event.objects.filter(pk=event_id).values("id", "title", "status").first()
    if event is None:
        return None
    user = viewer.user
    return {**event, "viewer": user.pk if user.is_authenticated else None,
            "screen": viewer.screen}


def demo_event_screen_key_valid(event_id: int, key: str) -> bool:
    from core.models import Event

    return key == screen_key_for(event_id) and Event.objects.filter(pk=event_id).exists()


def reduce_demo_event(state: dict[str, Any], message: StreamMessage) -> dict[str, Any]:
    if message["type"] == "event.updated":
        return {**state, **message["data"]}
    raise UnknownMessageType("event", message["type"])


DEMO_EVENT_KIND = StreamKind(
    name="event", snapshot=demo_event_snapshot, screen_key_valid=demo_event_screen_key_valid,
    messages={"event.updated": lambda title: {"title": title}}, apply=reduce_demo_event,
)
# Draw N of the test kind belongs to event N.
DEMO_DRAW_KIND = StreamKind(
    name="draw", snapshot=demo_event_snapshot, screen_key_valid=demo_event_screen_key_valid,
    event_of=lambda draw_id: draw_id,
)


def rename_event(*, event_id: int, title: str) -> None:
    """The test kind's action: one write, published on commit."""
    from django.db import transaction

    from core.models import Event

    with transaction.atomic():
        Event.objects.filter(pk=event_id).update(title=title)
        data = DEMO_EVENT_KIND.messages["event.updated"](title)
        streams.publish_on_commit(f"event:{event_id}", "event.updated", data)
