"""Fuzzed client frames on the real stream kinds (event, draw, seats).

Whatever a client sends, the consumer answers with a documented error frame
(docs/websocket-protocol.md, "Errors") or closes with a documented code; it
never raises. After the bad frames a ping still gets a pong, unless the
server closed the connection by design.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync
from channels.layers import channel_layers
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consumers.protocol import CLOSE_CODES
from tests.factories import make_draw, make_event
from tests.stream_helpers import connected, fresh_channel_layer  # noqa: F401 (autouse)
from tests.ticketing_helpers import LAYOUT
from tests.ticketing_helpers import make_event as make_event_on_sale
from ticketing.services import layout

# Channels' database_sync_to_async closes connections that are not in autocommit,
# which inside a test transaction is the test's own (PostgreSQL then fails).
pytestmark = pytest.mark.django_db(transaction=True)

DOC = Path(__file__).resolve().parent.parent / "docs" / "websocket-protocol.md"
# The "Errors" table of the protocol page: | `code` | closes with | when |
DOCUMENTED_ERRORS = set(re.findall(r"^\| `([a-z_]+)` \| (?:—|\d{4}) \|", DOC.read_text(), re.M))
# Frames a client may receive besides errors, in answer to its own frames.
ANSWERS = {"pong", "authenticated", "snapshot", "heartbeat"}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
# Objects shaped like our messages, with fields of any type.
message_like = st.fixed_dictionaries(
    {"type": st.sampled_from(["ping", "resume", "auth", "subscribe", ""]) | json_values},
    optional={"since": json_values, "stream": json_values, "token": json_values,
              "screen_key": json_values},
)

TYPED_WRONG = [
    {"type": "resume", "since": "3"},
    {"type": "resume", "since": -1},
    {"type": "resume", "since": 1.5},
    {"type": "resume", "since": True},
    {"type": "resume", "since": 10**40},
    {"type": "resume", "since": 0, "stream": ["draw:1"]},
    {"type": "resume", "since": 0, "stream": "draw:999999"},
    {"type": "auth", "token": 12345},
    {"type": "auth", "token": None, "screen_key": {}},
    {"type": "auth", "screen_key": False},
    {"type": "unknown"},
    {"type": None},
    {"type": ["ping"]},
    {"type": "x" * 4000},
]


@pytest.fixture(params=["event", "draw", "seats"])
def path(request, transactional_db, settings):
    """A real object of each stream kind; a generous rate limit so fuzzing is not flooding."""
    settings.WS_RATE_BURST = 10_000
    if request.param == "seats":
        from core.models import Venue

        venue = Venue.objects.create(name="Arena", address="1 Court Street")
        layout.venue_layout_set(venue=venue, sections=LAYOUT)
        return f"/ws/events/{make_event_on_sale(venue).pk}/seats/"
    draw = make_draw(make_event())
    return f"/ws/draws/{draw.pk}/" if request.param == "draw" else f"/ws/events/{draw.event_id}/"


async def answers_then_pong(ws) -> tuple[list[dict], int | None]:
    """Send a ping; the frames received until its pong, or until the server closed (and
    the close code). A consumer that raised makes receive_output raise here."""
    await ws.send_json_to({"type": "ping"})
    frames = []
    while True:
        output = await ws.receive_output(2)
        if output["type"] == "websocket.close":
            return frames, output.get("code", 1000)
        frame = json.loads(output["text"])
        if frame.get("type") == "pong":
            return frames, None
        frames.append(frame)


def assert_documented(frames: list[dict], close_code: int | None) -> None:
    for frame in frames:
        if frame.get("type") == "error":
            assert frame["code"] in DOCUMENTED_ERRORS, frame
            assert isinstance(frame["detail"], str) and frame["detail"], frame
        else:
            assert frame.get("type") in ANSWERS or "stream" in frame, frame
    if close_code is not None:
        assert close_code in CLOSE_CODES, close_code
        assert frames and frames[-1]["type"] == "error", "closed without saying why"


async def fuzz(path: str, frames: list[dict[str, str | bytes]]) -> None:
    """Send each frame, check what comes back; stop at a close by design."""
    ws = await connected(path)
    try:
        await ws.receive_json_from(2)  # the snapshot
        for frame in frames:
            await ws.send_input({"type": "websocket.receive", **frame})
            answers, close_code = await answers_then_pong(ws)
            assert_documented(answers, close_code)
            if close_code is not None:
                return
    finally:
        await ws.disconnect()


def run_fuzz(path, frames):
    # Each example runs on its own event loop: give it its own channel layer.
    channel_layers.backends.clear()
    async_to_sync(fuzz)(path, frames)


def text(value) -> dict[str, str]:
    return {"text": json.dumps(value)}


@pytest.mark.parametrize("message", TYPED_WRONG, ids=lambda m: json.dumps(m)[:40])
def test_wrong_types_for_known_messages_get_an_error_frame(path, message):
    run_fuzz(path, [text(message)])


@pytest.mark.parametrize("frame", [
    pytest.param({"bytes": b"\x00\x01\xff" * 100}, id="binary"),
    pytest.param({"bytes": b'{"type": "ping"}'}, id="binary-json"),
    pytest.param({"text": "x" * 1_000_000}, id="huge"),
    pytest.param({"text": json.dumps({"type": "ping", "pad": "y" * 5000})}, id="huge-json"),
    pytest.param({"text": "[" * 2000 + "]" * 2000}, id="deep-list"),
    pytest.param({"text": '{"a":' * 1000 + "1" + "}" * 1000}, id="deep-object"),
    pytest.param({"text": '{"type": "resume", "since": 1e999}'}, id="infinite-since"),
    pytest.param({"text": "NaN"}, id="nan"),
    pytest.param({"text": "\ud800"}, id="lone-surrogate"),
    pytest.param({"text": ""}, id="empty"),
])
def test_malformed_frames_get_an_error_frame(path, frame):
    run_fuzz(path, [frame])


@settings(max_examples=15, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.lists(json_values | message_like, min_size=1, max_size=8))
def test_random_json_never_crashes_the_consumer(path, values):
    run_fuzz(path, [text(value) for value in values])
