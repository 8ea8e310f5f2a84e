"""The stream consumer: snapshot, relay, since, resume, gaps (WebsocketCommunicator)."""

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from core import streams
from core.models import Event
from tests.stream_helpers import (
    DEMO_DRAW_KIND,
    DEMO_EVENT_KIND,
    closed_with,
    connected,
    fanout,  # noqa: F401 (fixture: both fan-out modes)
    fresh_channel_layer,  # noqa: F401 (autouse)
    receive,
    receive_stream_frames,
    swap_stream_kind,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fanout")]

publish = sync_to_async(streams.publish)


@pytest.fixture
def kinds():
    with swap_stream_kind(DEMO_EVENT_KIND), swap_stream_kind(DEMO_DRAW_KIND):
        yield


@pytest.fixture
def event(kinds):
    return Event.objects.create(title="Gala", starts_at=timezone.now(), status="published")


async def test_connect_sends_snapshot_with_the_seq_it_reflects(event):
    await publish(f"event:{event.pk}", "event.updated", {"title": "Gala"})
    ws = await connected(f"/ws/events/{event.pk}/")
    snapshot = await receive(ws)
    assert snapshot["stream"] == f"event:{event.pk}"
    assert (snapshot["type"], snapshot["seq"]) == ("snapshot", 1)
    assert snapshot["data"] == {"id": event.pk, "title": "Gala", "status": "published",
                                "viewer": None, "screen": False}
    assert isinstance(snapshot["ts"], float)
    await ws.disconnect()


async def test_messages_published_after_connect_are_relayed_in_order(event):
    ws = await connected(f"/ws/events/{event.pk}")  # trailing slash optional
    assert (await receive(ws))["seq"] == 0
    for n in range(3):
        await publish(f"event:{event.pk}", "event.updated", {"n": n})
    frames = [await receive(ws) for _ in range(3)]
    assert [(f["seq"], f["data"]["n"]) for f in frames] == [(1, 0), (2, 1), (3, 2)]
    assert set(frames[0]) == {"stream", "seq", "type", "data", "ts"}
    await ws.disconnect()


async def test_draw_route_uses_the_draw_kind(event):
    ws = await connected(f"/ws/draws/{event.pk}/")
    snapshot = await receive(ws)
    assert snapshot["stream"] == f"draw:{event.pk}"
    await ws.disconnect()


async def test_messages_of_other_streams_are_not_relayed(event):
    ws = await connected(f"/ws/events/{event.pk}/")
    await receive(ws)
    await publish(f"event:{event.pk + 1}", "event.updated", {})
    await publish(f"event:{event.pk}", "event.updated", {"mine": True})
    assert (await receive(ws))["data"] == {"mine": True}
    await ws.disconnect()


async def test_missing_object_gets_error_frame_then_close_4404(event):
    ws = await connected(f"/ws/events/{event.pk + 100}/")
    frames, code = await closed_with(ws)
    assert frames == [{"type": "error", "code": "not_found",
                       "detail": f"No such stream 'event:{event.pk + 100}'."}]
    assert code == 4404


async def test_unregistered_kind_closes_4404(event):
    seats = streams.unregister_stream_kind("seats")  # as if ticketing were not installed
    try:
        ws = await connected(f"/ws/events/{event.pk}/seats/")
        frames, code = await closed_with(ws)
    finally:
        if seats is not None:
            streams.register_stream_kind(seats)
    assert [f["code"] for f in frames] == ["unknown_stream"] and code == 4404


async def test_unknown_path_closes_4404():
    ws = await connected("/ws/nothing/here/")
    frames, code = await closed_with(ws)
    assert [f["code"] for f in frames] == ["unknown_stream"] and code == 4404


async def test_since_replays_exactly_the_missed_messages_in_order(event):
    stream = f"event:{event.pk}"
    for n in range(5):
        await publish(stream, "event.updated", {"n": n})
    ws = await connected(f"/ws/events/{event.pk}/?since=2")
    frames = [await receive(ws) for _ in range(3)]
    assert [f["seq"] for f in frames] == [3, 4, 5]
    await publish(stream, "event.updated", {"n": 5})
    assert (await receive(ws))["seq"] == 6
    assert await ws.receive_nothing(0.05)
    await ws.disconnect()


async def test_since_current_seq_sends_nothing_until_the_next_message(event):
    await publish(f"event:{event.pk}", "event.updated", {})
    ws = await connected(f"/ws/events/{event.pk}/?since=1")
    assert await ws.receive_nothing(0.05)
    await ws.disconnect()


async def test_since_out_of_history_sends_a_reset_snapshot(event, settings):
    settings.STREAM_HISTORY_LENGTH = 2
    for n in range(5):
        await publish(f"event:{event.pk}", "event.updated", {"n": n})
    ws = await connected(f"/ws/events/{event.pk}/?since=1")
    frame = await receive(ws)
    assert (frame["type"], frame["seq"], frame["reset"]) == ("snapshot", 5, True)
    assert frame["data"]["title"] == "Gala"
    await ws.disconnect()


async def test_since_on_a_missing_object_still_closes_4404(event):
    ws = await connected(f"/ws/events/{event.pk + 100}/?since=0")
    _, code = await closed_with(ws)
    assert code == 4404


@pytest.mark.parametrize("since", ["-1", "abc", "1.5", "", "%B2", "9" * 40])
async def test_malformed_since_closes_4400(event, since):
    ws = await connected(f"/ws/events/{event.pk}/?since={since}")
    frames, code = await closed_with(ws)
    assert [f["code"] for f in frames] == ["invalid_since"] and code == 4400


async def test_resume_message_replays_after_a_seen_gap(event):
    stream = f"event:{event.pk}"
    ws = await connected(f"/ws/events/{event.pk}/")
    await receive(ws)
    for n in range(3):
        await publish(stream, "event.updated", {"n": n})
    await receive_stream_frames(ws, stream, until_seq=3)
    await ws.send_json_to({"type": "resume", "since": 1})
    assert [(await receive(ws))["seq"] for _ in range(2)] == [2, 3]
    await publish(stream, "event.updated", {"n": 3})
    assert (await receive(ws))["seq"] == 4
    assert await ws.receive_nothing(0.05)
    await ws.disconnect()


async def test_resume_out_of_history_sends_reset_snapshot(event, settings):
    settings.STREAM_HISTORY_LENGTH = 1
    ws = await connected(f"/ws/events/{event.pk}/")
    await receive(ws)
    for n in range(3):
        await publish(f"event:{event.pk}", "event.updated", {"n": n})
    await receive_stream_frames(ws, f"event:{event.pk}", until_seq=3)
    await ws.send_json_to({"type": "resume", "since": 0})
    frame = await receive(ws)
    assert (frame["type"], frame["seq"], frame.get("reset")) == ("snapshot", 3, True)
    await ws.disconnect()


async def test_resume_of_a_stream_not_joined_is_an_error_frame(event):
    ws = await connected(f"/ws/events/{event.pk}/")
    await receive(ws)
    await ws.send_json_to({"type": "resume", "since": 0, "stream": "event:999"})
    assert (await receive(ws))["code"] == "not_subscribed"
    await ws.send_json_to({"type": "ping"})
    assert (await receive(ws))["type"] == "pong"  # still open
    await ws.disconnect()


async def test_a_message_lost_by_the_channel_layer_is_filled_from_history(event):
    stream = f"event:{event.pk}"
    ws = await connected(f"/ws/events/{event.pk}/")
    await receive(ws)
    await sync_to_async(streams.record)(stream, "event.updated", {"n": 1})  # never sent
    await publish(stream, "event.updated", {"n": 2})
    frames = [await receive(ws), await receive(ws)]
    assert [(f["seq"], f["data"]["n"]) for f in frames] == [(1, 1), (2, 2)]
    await ws.disconnect()


async def test_out_of_order_delivery_reaches_the_client_in_seq_order(event):
    stream = f"event:{event.pk}"
    ws = await connected(f"/ws/events/{event.pk}/")
    await receive(ws)
    first = await sync_to_async(streams.record)(stream, "event.updated", {"n": 1})
    second = await sync_to_async(streams.record)(stream, "event.updated", {"n": 2})
    await streams.asend(second)  # a faster publisher overtakes
    await streams.asend(first)
    assert [(await receive(ws))["seq"] for _ in range(2)] == [1, 2]
    assert await ws.receive_nothing(0.05)
    await ws.disconnect()


# --- Protocol version 2: a replay is one frame --------------------------------


async def connected_v2(path: str):
    from tests.stream_helpers import communicator

    ws = communicator(path, subprotocols=["tombola.v1", "tombola.v2"])
    accepted, subprotocol = await ws.connect()
    assert accepted and subprotocol == "tombola.v2"  # the newest version offered
    return ws


async def test_v2_since_gets_one_replay_frame_with_every_missed_message_in_order(event):
    stream = f"event:{event.pk}"
    for n in range(6):
        await publish(stream, "event.updated", {"n": n})
    ws = await connected_v2(f"/ws/events/{event.pk}/?since=2")
    frame = await receive(ws)
    assert set(frame) == {"stream", "seq", "type", "data", "ts"}
    assert (frame["stream"], frame["seq"], frame["type"]) == (stream, 6, "replay")
    messages = frame["data"]["messages"]
    assert [(m["seq"], m["data"]["n"]) for m in messages] == [(3, 2), (4, 3), (5, 4), (6, 5)]
    assert all(set(m) == {"stream", "seq", "type", "data", "ts"} and m["stream"] == stream
               for m in messages)
    # Later live messages follow it once each: no duplicate of a replayed seq.
    await publish(stream, "event.updated", {"n": 6})
    live = await receive(ws)
    assert (live["type"], live["seq"]) == ("event.updated", 7)
    assert await ws.receive_nothing(0.05)
    await ws.disconnect()


async def test_v2_resume_message_gets_one_replay_frame(event):
    stream = f"event:{event.pk}"
    ws = await connected_v2(f"/ws/events/{event.pk}/")
    await receive(ws)
    for n in range(3):
        await publish(stream, "event.updated", {"n": n})
    await receive_stream_frames(ws, stream, until_seq=3)
    await ws.send_json_to({"type": "resume", "since": 0})
    frame = await receive(ws)
    assert (frame["type"], frame["seq"]) == ("replay", 3)
    assert [m["seq"] for m in frame["data"]["messages"]] == [1, 2, 3]
    await publish(stream, "event.updated", {"n": 3})
    assert (await receive(ws))["seq"] == 4
    assert await ws.receive_nothing(0.05)
    await ws.disconnect()


async def test_v2_since_current_seq_sends_nothing(event):
    await publish(f"event:{event.pk}", "event.updated", {})
    ws = await connected_v2(f"/ws/events/{event.pk}/?since=1")
    assert await ws.receive_nothing(0.05)
    await ws.disconnect()


async def test_v2_since_out_of_history_still_sends_a_reset_snapshot(event, settings):
    settings.STREAM_HISTORY_LENGTH = 2
    for n in range(5):
        await publish(f"event:{event.pk}", "event.updated", {"n": n})
    ws = await connected_v2(f"/ws/events/{event.pk}/?since=1")
    frame = await receive(ws)
    assert (frame["type"], frame["seq"], frame["reset"]) == ("snapshot", 5, True)
    assert await ws.receive_nothing(0.05)
    await ws.disconnect()


def test_v2_replay_frame_is_encoded_once_per_window_and_since():
    """Sockets of a worker resuming from one shared history read and one seq share the text."""
    import json

    from consumers.snapshots import EncodedReplays, encoded_messages
    from consumers.streams import StreamConsumer

    stream = "event:1"
    messages = [{"stream": stream, "seq": seq, "type": "event.updated", "data": {"n": seq},
                 "ts": 1.5} for seq in (1, 2, 3)]
    window = (messages, 3)
    calls = []

    def encode(content):
        calls.append(content)
        return StreamConsumer.encode_json_sync(content)

    replays = EncodedReplays()
    first = replays.text(window, 1, messages[1:], encode)
    encoded = len(calls)
    assert replays.text(window, 1, messages[1:], encode) is first and len(calls) == encoded
    frame = json.loads(first)
    assert (frame["type"], frame["seq"], frame["data"]["messages"]) == ("replay", 3, messages[1:])
    # Each message's text is the one a v1 frame of it would carry.
    assert encoded_messages.text(messages[2], encode) in first and len(calls) == encoded
    # Another since, or another history read, is another frame.
    assert replays.text(window, 0, messages, encode) != first
    assert replays.text((messages, 3), 1, messages[1:], encode) is not first


async def test_v1_clients_keep_one_frame_per_replayed_message(event):
    stream = f"event:{event.pk}"
    for n in range(3):
        await publish(stream, "event.updated", {"n": n})
    ws = await connected(f"/ws/events/{event.pk}/?since=0", subprotocols=["tombola.v1"])
    frames = [await receive(ws) for _ in range(3)]
    assert [(f["type"], f["seq"]) for f in frames] == [("event.updated", n) for n in (1, 2, 3)]
    assert await ws.receive_nothing(0.05)
    await ws.disconnect()


async def test_a_draining_worker_closes_its_sockets_with_1012_spread_over_the_window(event):
    """core.signals.worker_draining (sent by `manage.py serve` on SIGTERM): every live
    stream socket is closed with 1012, in batches over the window, not all at once."""
    import time

    from consumers import drain
    from core.signals import worker_draining

    drain.reset()  # consumers other tests left without a disconnect
    sockets = []
    for _ in range(4):
        ws = await connected(f"/ws/events/{event.pk}/")
        await receive(ws)
        sockets.append(ws)
    try:
        started = time.monotonic()
        [(_, task)] = [r for r in worker_draining.send(sender=None, window=0.3)
                       if r[0] is drain.on_worker_draining]
        closed_at = []
        for ws in sockets:
            _, code = await closed_with(ws)
            closed_at.append(time.monotonic() - started)
            assert code == 1012
            await ws.disconnect()
        assert await task == 4
        assert max(closed_at) >= 0.2  # spread over the window
        # Still in its handshake when the drain began: closed at once.
        late = await connected(f"/ws/events/{event.pk}/")
        assert (await closed_with(late))[1] == 1012
        await late.disconnect()
    finally:
        drain.reset()
