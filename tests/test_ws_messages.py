"""Client frames: bad ones get an error frame (not a dropped socket), floods are limited;
heartbeats; origin checks."""

import json

import pytest
from django.utils import timezone

from core.models import Event
from tests.stream_helpers import (
    DEMO_EVENT_KIND,
    closed_with,
    communicator,
    connected,
    fresh_channel_layer,  # noqa: F401 (autouse)
    receive,
    swap_stream_kind,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def event():
    with swap_stream_kind(DEMO_EVENT_KIND):
        yield Event.objects.create(title="Gala", starts_at=timezone.now(), status="published")


@pytest.fixture
async def ws(event):
    ws = await connected(f"/ws/events/{event.pk}/")
    await receive(ws)
    yield ws
    await ws.disconnect()


async def still_open(ws) -> bool:
    await ws.send_json_to({"type": "ping"})
    return (await receive(ws))["type"] == "pong"


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("not json", "invalid_json"),
        ("[1, 2]", "invalid_message"),
        ('{"no": "type"}', "invalid_message"),
        ('{"type": 7}', "invalid_message"),
        ('{"type": "subscribe"}', "unknown_type"),
        ('{"type": "resume"}', "invalid_field"),
        ('{"type": "resume", "since": "3"}', "invalid_field"),
        ('{"type": "resume", "since": -1}', "invalid_field"),
        ('{"type": "resume", "since": true}', "invalid_field"),
        ('{"type": "resume", "since": 0, "stream": 5}', "invalid_field"),
        ('{"type": "auth"}', "invalid_field"),
        ('{"type": "auth", "token": ""}', "invalid_field"),
    ],
)
async def test_bad_message_gets_error_frame_and_the_socket_stays_open(ws, frame, code):
    await ws.send_to(text_data=frame)
    error = await receive(ws)
    assert (error["type"], error["code"]) == ("error", code)
    assert isinstance(error["detail"], str) and error["detail"]
    assert await still_open(ws)


async def test_huge_frame_is_refused_without_parsing(ws, settings):
    await ws.send_to(text_data=json.dumps({"type": "ping", "pad": "x" * 5000}))
    assert (await receive(ws))["code"] == "message_too_large"
    assert await still_open(ws)


async def test_binary_frame_gets_error_frame(ws):
    await ws.send_to(bytes_data=b"\x00\x01")
    assert (await receive(ws))["code"] == "binary_not_supported"
    assert await still_open(ws)


async def test_flood_gets_one_rate_limited_frame_then_recovers(event, settings):
    settings.WS_RATE_BURST = 3
    settings.WS_RATE_PER_SECOND = 0.001
    ws = await connected(f"/ws/events/{event.pk}/")
    await receive(ws)
    for _ in range(6):
        await ws.send_json_to({"type": "ping"})
    frames = [await receive(ws) for _ in range(4)]
    assert [f["type"] for f in frames] == ["pong", "pong", "pong", "error"]
    assert frames[3]["code"] == "rate_limited"
    assert await ws.receive_nothing(0.05)  # one error frame per burst, not one per frame
    await ws.disconnect()


async def test_sustained_flood_is_closed_with_4429(event, settings):
    settings.WS_RATE_BURST = 1
    settings.WS_RATE_PER_SECOND = 0.001
    settings.WS_FLOOD_CLOSE_AFTER = 5
    ws = await connected(f"/ws/events/{event.pk}/")
    await receive(ws)
    for _ in range(7):
        await ws.send_json_to({"type": "ping"})
    frames, code = await closed_with(ws)
    assert [f.get("code") for f in frames] == [None, "rate_limited", "flood"]
    assert code == 4429


async def test_heartbeats_arrive_on_an_idle_connection(event, settings):
    settings.WS_HEARTBEAT_SECONDS = 0.05
    ws = await connected(f"/ws/events/{event.pk}/")
    await receive(ws)
    beats = [await receive(ws) for _ in range(2)]
    assert [b["type"] for b in beats] == ["heartbeat", "heartbeat"]
    assert beats[1]["ts"] > beats[0]["ts"]
    await ws.disconnect()


async def test_foreign_origin_is_refused_at_the_handshake(event):
    ws = communicator(f"/ws/events/{event.pk}/", origin=False,
                      headers=[(b"origin", b"https://evil.example")])
    accepted, _ = await ws.connect()
    assert not accepted


async def test_allowed_origin_with_port_must_match_scheme_and_host(event):
    ws = communicator(f"/ws/events/{event.pk}/", origin=False,
                      headers=[(b"origin", b"http://localhost:8000")])
    accepted, _ = await ws.connect()
    assert accepted
    await ws.disconnect()


async def test_missing_origin_is_accepted_for_native_apps(event):
    ws = communicator(f"/ws/events/{event.pk}/", origin=False)
    accepted, _ = await ws.connect()
    assert accepted and (await receive(ws))["type"] == "snapshot"
    await ws.disconnect()


async def test_missing_origin_can_be_refused_by_setting(event, settings):
    settings.WS_ALLOW_MISSING_ORIGIN = False
    ws = communicator(f"/ws/events/{event.pk}/", origin=False)
    accepted, _ = await ws.connect()
    assert not accepted
