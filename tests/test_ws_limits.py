"""Caps on open WebSockets per user and per client address, and ws/health/ under the
same frame limits as the stream sockets (consumers/limits.py)."""

from __future__ import annotations

import json

import pytest
from django.utils import timezone
from rest_framework_simplejwt.tokens import AccessToken

from consumers.limits import open_connections
from core.models import Event
from tests.stream_helpers import (
    DEMO_EVENT_KIND,
    closed_with,
    communicator,
    fresh_channel_layer,  # noqa: F401 (autouse)
    receive,
    swap_stream_kind,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def no_open_connections():
    """Sockets other tests left open (closed by the server, never disconnected by
    the test) must not count here."""
    open_connections.counts.clear()
    yield
    open_connections.counts.clear()


@pytest.fixture
def event():
    with swap_stream_kind(DEMO_EVENT_KIND):
        yield Event.objects.create(title="Gala", starts_at=timezone.now(), status="published")


@pytest.fixture
def token(user):
    return str(AccessToken.for_user(user))


def from_address(path: str, address: str, **kwargs):
    ws = communicator(path, **kwargs)
    # The application has not run yet: the scope it will read is this dict.
    ws.scope["client"] = (address, 50000)
    return ws


async def opened(ws) -> None:
    accepted, _ = await ws.connect()
    assert accepted
    assert "type" in await receive(ws)  # the snapshot, or hello on ws/health/


async def test_a_user_past_the_cap_is_closed_4429_and_a_freed_slot_is_reusable(
        event, token, settings):
    settings.WS_MAX_CONNECTIONS_PER_USER = 2
    offer = {"subprotocols": ["tombola.v2", f"jwt.{token}"]}
    first, second = (communicator(f"/ws/events/{event.pk}/", **offer) for _ in range(2))
    await opened(first)
    await opened(second)

    third = communicator(f"/ws/events/{event.pk}/", **offer)
    assert (await third.connect())[0]
    frames, code = await closed_with(third)
    assert [f["code"] for f in frames] == ["too_many_connections"] and code == 4429

    # Anonymous sockets are not the user's; ws/health/ counts like the others.
    anonymous = communicator(f"/ws/events/{event.pk}/")
    await opened(anonymous)
    health = communicator("/ws/health/", **offer)
    assert (await health.connect())[0]
    frames, code = await closed_with(health)
    assert [f["code"] for f in frames] == ["too_many_connections"] and code == 4429

    await first.disconnect()
    again = communicator(f"/ws/events/{event.pk}/", **offer)
    await opened(again)
    for ws in (second, anonymous, again):
        await ws.disconnect()
    assert not open_connections.counts


async def test_an_auth_message_counts_the_socket_for_its_user(event, token, settings):
    settings.WS_MAX_CONNECTIONS_PER_USER = 1
    first = communicator(f"/ws/events/{event.pk}/",
                         subprotocols=["tombola.v2", f"jwt.{token}"])
    await opened(first)
    later = communicator(f"/ws/events/{event.pk}/")
    await opened(later)
    await later.send_json_to({"type": "auth", "token": token})
    frames, code = await closed_with(later)
    assert [f["code"] for f in frames] == ["too_many_connections"] and code == 4429
    await first.disconnect()
    assert not open_connections.counts


async def test_an_address_past_the_cap_is_closed_4429(event, settings):
    settings.WS_MAX_CONNECTIONS_PER_ADDRESS = 2
    sockets = [from_address(f"/ws/events/{event.pk}/", "203.0.113.7") for _ in range(2)]
    for ws in sockets:
        await opened(ws)
    over = from_address("/ws/health/", "203.0.113.7")
    assert (await over.connect())[0]
    frames, code = await closed_with(over)
    assert [f["code"] for f in frames] == ["too_many_connections"] and code == 4429

    elsewhere = from_address(f"/ws/events/{event.pk}/", "198.51.100.1")
    await opened(elsewhere)
    for ws in (*sockets, elsewhere):
        await ws.disconnect()
    assert not open_connections.counts


async def test_the_address_behind_a_trusted_proxy_is_the_forwarded_one(event, settings):
    settings.WS_MAX_CONNECTIONS_PER_ADDRESS = 1
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}

    def via_proxy(forwarded: str):
        return from_address(f"/ws/events/{event.pk}/", "10.0.0.2",
                            headers=[(b"x-forwarded-for", forwarded.encode())])

    # The client made up the first hop; the proxy appended the address it saw.
    first, second = via_proxy("1.1.1.1, 203.0.113.7"), via_proxy("2.2.2.2, 198.51.100.1")
    await opened(first)
    await opened(second)  # another client behind the same proxy
    third = via_proxy("3.3.3.3, 203.0.113.7")
    assert (await third.connect())[0]
    _, code = await closed_with(third)
    assert code == 4429
    for ws in (first, second):
        await ws.disconnect()


async def test_no_cap_when_set_to_zero(event, settings):
    settings.WS_MAX_CONNECTIONS_PER_ADDRESS = 0
    sockets = [from_address(f"/ws/events/{event.pk}/", "203.0.113.7") for _ in range(3)]
    for ws in sockets:
        await opened(ws)
    for ws in sockets:
        await ws.disconnect()


# --- ws/health/ has the stream sockets' frame limits ---------------------------------


async def health():
    ws = communicator("/ws/health/")
    await opened(ws)
    return ws


@pytest.mark.parametrize(("frame", "code"), [
    (json.dumps({"type": "ping", "pad": "x" * 5000}), "message_too_large"),
    ("[" * 3000 + "]" * 3000, "invalid_json"),  # within the size cap, past the decoder
    ("{not json", "invalid_json"),
])
async def test_health_refuses_bad_frames_with_an_error_frame(frame, code, settings):
    settings.WS_MAX_MESSAGE_BYTES = 6000
    ws = await health()
    if code == "message_too_large":
        settings.WS_MAX_MESSAGE_BYTES = 4096
    await ws.send_to(text_data=frame)
    error = await receive(ws)
    assert (error["type"], error["code"]) == ("error", code)
    await ws.send_json_to({"type": "ping"})
    assert (await receive(ws))["type"] == "pong"  # still open
    await ws.disconnect()


async def test_health_binary_frame_gets_an_error_frame():
    ws = await health()
    await ws.send_to(bytes_data=b"\x00\x01")
    assert (await receive(ws))["code"] == "binary_not_supported"
    await ws.disconnect()


async def test_a_flood_on_health_is_rate_limited_then_closed_4429(settings):
    settings.WS_RATE_BURST = 1
    settings.WS_RATE_PER_SECOND = 0.001
    settings.WS_FLOOD_CLOSE_AFTER = 5
    ws = await health()
    for _ in range(7):
        await ws.send_json_to({"type": "ping"})
    frames, code = await closed_with(ws)
    assert [f.get("code") for f in frames] == [None, "rate_limited", "flood"]
    assert code == 4429


@pytest.mark.parametrize("field", ["screen_key", "token"])
async def test_a_lone_surrogate_in_auth_is_an_invalid_field_not_a_dead_consumer(
        event, field, settings):
    # JSON lets "\ud800" through; encoding it for the key or token lookup raised and
    # killed the consumer, leaving its connection counted for good.
    settings.WS_MAX_CONNECTIONS_PER_ADDRESS = 1
    ws = from_address(f"/ws/events/{event.pk}/", "203.0.113.9")
    await opened(ws)
    await ws.send_to(text_data=json.dumps({"type": "auth", field: "\ud800"}))
    frame = await receive(ws)
    assert (frame["type"], frame["code"]) == ("error", "invalid_field")
    await ws.disconnect()
    again = from_address(f"/ws/events/{event.pk}/", "203.0.113.9")
    await opened(again)  # the slot was freed: under a cap of 1 the next one gets in
    await again.disconnect()


async def test_an_unexpected_error_closes_4500_and_frees_the_sockets_slot(
        event, settings, monkeypatch, caplog):
    # Whatever bug a frame hits, the socket is closed cleanly (disconnect runs and
    # frees its counts and tasks) and the fault is logged.
    from consumers.streams import StreamConsumer

    async def bug(self, content):
        raise RuntimeError("a bug")

    settings.WS_MAX_CONNECTIONS_PER_ADDRESS = 1
    ws = from_address(f"/ws/events/{event.pk}/", "203.0.113.9")
    await opened(ws)
    monkeypatch.setattr(StreamConsumer, "receive_json", bug)
    await ws.send_to(text_data=json.dumps({"type": "ping"}))
    frames, code = await closed_with(ws)
    assert [(f["type"], f["code"]) for f in frames] == [("error", "internal_error")]
    assert code == 4500
    assert "WebSocket consumer error" in caplog.text
    monkeypatch.undo()
    again = from_address(f"/ws/events/{event.pk}/", "203.0.113.9")
    await opened(again)
    await again.disconnect()
