"""docs/websocket-protocol.md is tested against the server: its JSON examples,
its tables of error and close codes, and the message types the apps publish."""

import json
import re
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async

from consumers import protocol
from core import streams
from core.streams import StreamKind
from tests.stream_helpers import (
    closed_with,
    connected,
    fresh_channel_layer,  # noqa: F401 (autouse)
    receive,
    swap_stream_kind,
)

# The consumer goes through database_sync_to_async, which touches the connection.
pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent
DOC = (ROOT / "docs" / "websocket-protocol.md").read_text()
EXAMPLES = [(direction, json.loads(body)) for direction, body in
            re.findall(r"```json (client|server)\n(.*?)```", DOC, re.DOTALL)]
CLIENT = [example for direction, example in EXAMPLES if direction == "client"]
SERVER = [example for direction, example in EXAMPLES if direction == "server"]
NOTICE_FRAMES = [example for example in SERVER if "stream" in example and "seq" not in example]
STREAM_FRAMES = [example for example in SERVER if "stream" in example and "seq" in example]
CONTROL_FRAMES = [example for example in SERVER if "stream" not in example]
DOCUMENTED_TYPES = {frame["type"] for frame in STREAM_FRAMES} | set(
    re.findall(r"^`([a-z]+\.[a-z_]+)`:", DOC, re.MULTILINE))
SCREEN_KEY = "s3cr3t-screen-key"
URLS = {"event": "/ws/events/{}/", "draw": "/ws/draws/{}/", "seats": "/ws/events/{}/seats/",
        "queue": "/ws/events/{}/queue/", "queue_staff": "/ws/events/{}/queue/staff/",
        "user": "/ws/users/{}/"}


def table_rows(header: str) -> list[list[str]]:
    """The body rows of the table whose header line is `header`."""
    lines = DOC.split(header + "\n", 1)[1].splitlines()[1:]  # skip the |---| line
    rows = []
    for line in lines:
        if not line.startswith("|"):
            break
        rows.append([cell.strip().strip("`") for cell in line.strip("|").split("|")])
    return rows


def test_the_page_has_examples_of_every_kind_of_frame():
    assert len(STREAM_FRAMES) >= 15 and CLIENT and CONTROL_FRAMES
    assert {f["type"] for f in CONTROL_FRAMES} == {"pong", "heartbeat", "error",
                                                   "authenticated"}


@pytest.mark.parametrize("frame", STREAM_FRAMES, ids=lambda f: f["type"])
def test_stream_examples_follow_the_envelope(frame):
    expected = {"stream", "seq", "type", "data", "ts"} | ({"reset"} if "reset" in frame else set())
    assert set(frame) == expected
    assert re.fullmatch(r"(event|draw|seats|screen|queue|queue_staff|user):[0-9]+", frame["stream"])
    assert isinstance(frame["seq"], int) and frame["seq"] >= 0
    assert isinstance(frame["ts"], float) and isinstance(frame["data"], dict)
    if "reset" in frame:
        assert frame["type"] == "snapshot" and frame["reset"] is True
    if frame["type"] == "replay":  # version 2: the replayed messages, in one frame
        messages = frame["data"]["messages"]
        assert set(frame["data"]) == {"messages"} and messages
        assert [m["seq"] for m in messages] == list(range(messages[0]["seq"], frame["seq"] + 1))
        for message in messages:
            test_stream_examples_follow_the_envelope(message)
            assert message["stream"] == frame["stream"] and message["type"] != "replay"
    if frame["stream"].startswith("draw:") and frame["type"] != "snapshot":
        assert frame["data"]["draw_id"] == int(frame["stream"].split(":")[1])


@pytest.mark.parametrize("frame", NOTICE_FRAMES, ids=lambda f: f["type"])
def test_notice_examples_follow_the_notice_envelope(frame):
    """A notice has no seq (outside the stream's order), and a kind declares its type."""
    assert set(frame) == {"stream", "type", "data", "ts"}
    kind = streams.stream_kind(frame["stream"].partition(":")[0])
    assert kind is not None and frame["type"] in kind.notices


def test_every_notice_a_kind_declares_is_documented():
    declared = {notice for name in URLS if (kind := streams.stream_kind(name)) is not None
                for notice in kind.notices}
    assert declared and declared == {frame["type"] for frame in NOTICE_FRAMES}


@pytest.mark.parametrize("message", CLIENT, ids=lambda m: m["type"])
def test_client_examples_are_valid_client_messages(message):
    protocol.parse_client_message(message)


def test_error_code_table_is_every_code_the_server_sends():
    source = "\n".join(p.read_text() for p in (ROOT / "consumers").glob("*.py"))
    raised = set(re.findall(r'ProtocolError\(\s*"([a-z_]+)"', source))
    raised |= set(protocol.UNAVAILABLE_DETAILS)  # outages: codes from core.errors
    rows = table_rows("| code | closes with | when |")
    assert {row[0] for row in rows} == raised
    for row in rows:
        assert row[1] == "—" or int(row[1]) in protocol.CLOSE_CODES


def test_close_code_table_matches_the_protocol_module():
    rows = table_rows("| code | meaning |")
    assert {int(row[0]) for row in rows if row[0].isdigit()} == set(protocol.CLOSE_CODES)
    assert rows[-1][0] == "1000/1001/1006"  # the only row that is not ours


# A type literal given to a publish call (publish, publish_on_commit, publish_draw, ...),
# and the seat.* types closing a tuple of ticketing's transitions table. Webhook
# kinds and audit actions use the same dotted names but are not stream messages.
PUBLISHED_TYPE = re.compile(
    r'publish\w*\([^"]{0,150}"((?:draw|seat|checkin|event|queue|waiting_list)\.[a-z_]+)"|"(seat\.[a-z_]+)"\),')


def published_types() -> dict[str, set[str]]:
    """Stream prefix ("draw", "seat", ...) -> the types published with it."""
    published: dict[str, set[str]] = {}
    for app in ("core", "live", "ticketing"):
        for path in (ROOT / app).rglob("*.py"):
            if "migrations" not in path.parts:
                for match in PUBLISHED_TYPE.finditer(path.read_text()):
                    type_ = match.group(1) or match.group(2)
                    published.setdefault(type_.partition(".")[0], set()).add(type_)
    return published


def test_every_message_type_the_apps_publish_is_documented():
    published = set().union(*published_types().values())
    assert published <= DOCUMENTED_TYPES, sorted(published - DOCUMENTED_TYPES)


# Where each published prefix goes: draw messages on draw:<id> and event:<id>,
# seat messages on seats:<event_id>; checkin.code on screen:<event_id>, which has
# no kind (its snapshot is its latest values). The waiting room's two streams share
# the queue prefix, so its types are placed one by one (a new one must be added).
KINDS_OF_PREFIX = {"event": ("event",), "draw": ("event", "draw"), "seat": ("seats",),
                   "checkin": (), "queue": None, "waiting_list": ("user",)}
KINDS_OF_TYPE = {"queue.progress": ("queue",), "queue.stats": ("queue_staff",),
                 "queue.room": ("queue_staff",)}


def test_every_published_type_is_declared_by_the_kinds_of_its_stream():
    """A kind's reducer handles exactly its declared types (and raises on others), so a
    published type no kind declares would fail every client replaying it."""
    published = published_types()
    assert set(published) <= set(KINDS_OF_PREFIX), sorted(set(published) - set(KINDS_OF_PREFIX))
    for prefix, types in published.items():
        for type_ in types:
            kinds = KINDS_OF_TYPE.get(type_, KINDS_OF_PREFIX[prefix])
            assert kinds is not None, f"{type_}: which stream kind publishes it?"
            for name in kinds:
                assert type_ in streams.stream_kind(name).messages, (name, type_)


@pytest.mark.parametrize("name", ["event", "draw", "seats", "queue", "queue_staff", "user"])
def test_every_type_a_kind_declares_is_documented(name):
    declared = set(streams.stream_kind(name).messages)
    assert declared <= DOCUMENTED_TYPES, sorted(declared - DOCUMENTED_TYPES)


# --- The examples against the running consumer ---------------------------------


def kind(name):
    return StreamKind(name=name, snapshot=lambda object_id, viewer: {"id": object_id},
                      screen_key_valid=lambda object_id, key: key == SCREEN_KEY)


@pytest.fixture
def kinds():
    with swap_stream_kind(kind("event")), swap_stream_kind(kind("draw")), \
            swap_stream_kind(kind("seats")), swap_stream_kind(kind("queue")), \
            swap_stream_kind(kind("queue_staff")), swap_stream_kind(kind("user")):
        yield


async def open_stream(stream):
    name, object_id = stream.split(":")
    if name == "screen":
        ws = await connected(f"/ws/events/{object_id}/?key={SCREEN_KEY}")
        await receive(ws)
    else:
        ws = await connected(URLS[name].format(object_id))
    snapshot = await receive(ws)
    assert snapshot["stream"] == stream
    return ws, snapshot


@pytest.mark.parametrize("example",
                         [f for f in STREAM_FRAMES if f["type"] not in ("snapshot", "replay")],
                         ids=lambda f: f["type"])
async def test_consumer_relays_each_example_as_documented(kinds, example):
    ws, _ = await open_stream(example["stream"])
    await sync_to_async(streams.publish)(example["stream"], example["type"], example["data"])
    frame = await receive(ws)
    assert set(frame) == set(example)
    assert (frame["stream"], frame["type"], frame["data"]) == (
        example["stream"], example["type"], example["data"])
    await ws.disconnect()


async def test_consumer_snapshot_and_reset_frames_have_the_documented_fields(kinds, settings):
    documented = [f for f in STREAM_FRAMES if f["type"] == "snapshot"]
    ws, snapshot = await open_stream("event:12")
    assert set(snapshot) == set(next(f for f in documented if "reset" not in f))
    await ws.disconnect()
    settings.STREAM_HISTORY_LENGTH = 1
    for _ in range(3):
        await sync_to_async(streams.publish)("event:12", "event.updated", {})
    ws = await connected("/ws/events/12/?since=0")
    assert set(await receive(ws)) == set(next(f for f in documented if "reset" in f))
    await ws.disconnect()


async def test_consumer_control_frames_have_the_documented_fields(kinds, settings):
    documented = {f["type"]: f for f in CONTROL_FRAMES}
    settings.WS_HEARTBEAT_SECONDS = 0.05
    ws, _ = await open_stream("event:12")
    await ws.send_json_to(next(m for m in CLIENT if m["type"] == "ping"))
    await ws.send_json_to({"type": "resume", "since": "x"})
    await ws.send_json_to(next(m for m in CLIENT if m.get("screen_key")))
    seen = {}
    for _ in range(50):
        frame = await receive(ws)
        if "stream" not in frame:
            seen.setdefault(frame["type"], frame)
        if set(seen) == set(documented):
            break
    assert set(seen) == set(documented)
    for type_, frame in seen.items():
        assert set(frame) == set(documented[type_]), type_
    await ws.disconnect()


async def test_consumer_answers_the_resume_examples_without_error(kinds):
    for since in range(45):
        await sync_to_async(streams.publish)("event:12", "event.updated", {"n": since})
    ws, _ = await open_stream("event:12")
    example = next(m for m in CLIENT if m["type"] == "resume" and "stream" not in m)
    await ws.send_json_to(example)
    replayed = [await receive(ws) for _ in range(45 - example["since"])]
    assert [f["seq"] for f in replayed] == list(range(example["since"] + 1, 46))
    await ws.disconnect()


async def test_consumer_sends_the_replay_frame_as_documented(kinds):
    """Version 2: a resume gets one frame shaped like the page's replay example."""
    example = next(f for f in STREAM_FRAMES if f["type"] == "replay")
    since = example["data"]["messages"][0]["seq"] - 1
    for n in range(since):  # what the client had already processed
        await sync_to_async(streams.publish)(example["stream"], "event.updated", {"n": n})
    for message in example["data"]["messages"]:
        await sync_to_async(streams.publish)(example["stream"], message["type"], message["data"])
    name, object_id = example["stream"].split(":")
    ws = await connected(URLS[name].format(object_id) + f"?since={since}",
                         subprotocols=["tombola.v2"])
    frame = await receive(ws)
    assert set(frame) == set(example) and set(frame["data"]) == set(example["data"])
    assert (frame["stream"], frame["seq"], frame["type"]) == (
        example["stream"], example["seq"], example["type"])
    for got, documented in zip(frame["data"]["messages"], example["data"]["messages"],
                               strict=True):
        assert set(got) == set(documented)
        assert (got["seq"], got["type"], got["data"]) == (
            documented["seq"], documented["type"], documented["data"])
    await ws.disconnect()


async def test_token_auth_example_is_refused_as_documented(kinds):
    ws, _ = await open_stream("event:12")
    await ws.send_json_to(next(m for m in CLIENT if m.get("token")))
    frames, code = await closed_with(ws)
    assert [f["code"] for f in frames] == ["invalid_token"] and code == 4401


# --- The waiting room's examples against the data the server builds ------------------


def documented(stream_kind: str, type_: str) -> dict:
    return next(f["data"] for f in STREAM_FRAMES
                if f["stream"].split(":")[0] == stream_kind and f["type"] == type_)


def test_queue_examples_have_the_fields_the_server_builds(user, staff):
    """The queue examples are shaped like the real snapshots and messages, and the
    page's arithmetic (position = number - served) is the reducer's."""
    from core.streams import Viewer
    from tests.factories import make_event
    from tests.ticketing_helpers import committed
    from ticketing.queue_line import _memory, queue_line
    from ticketing.queue_messages import progress_data
    from ticketing.services.waiting_room import queue_join, room_figures, waiting_room_configure
    from ticketing.streams import (
        apply_queue_message,
        queue_snapshot,
        queue_staff_snapshot,
        room_settings,
    )

    _memory.reset()
    event = make_event()
    room = committed(waiting_room_configure, event=event, actor=None, source="test")
    queue_join(event_id=event.pk, user=user)
    snapshot = queue_snapshot(event.pk, Viewer(user=user))
    example = documented("queue", "snapshot")
    assert set(example) == set(snapshot) and set(example["me"]) == set(snapshot["me"])
    progress = documented("queue", "queue.progress")
    assert set(progress) == set(progress_data(queue_line().place(event.pk, None)))
    moved = apply_queue_message(example, {"type": "queue.progress", "seq": 311,
                                          "data": progress})["me"]
    assert moved["position"] == example["me"]["number"] - progress["served"] == 1201
    assert moved["eta_seconds"] == 121
    staff_snapshot = queue_staff_snapshot(event.pk, Viewer(user=staff))
    example = documented("queue_staff", "snapshot")
    assert set(example) == set(staff_snapshot)
    assert set(example["room"]) == set(staff_snapshot["room"])
    assert set(example["figures"]) == set(staff_snapshot["figures"])
    assert set(documented("queue_staff", "queue.stats")) == set(room_figures(event.pk))
    assert set(documented("queue_staff", "queue.room")) == set(room_settings(room))
    _memory.reset()
