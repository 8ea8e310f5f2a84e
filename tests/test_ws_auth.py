"""WebSocket auth: JWT in the subprotocol or an auth message, never in the URL; screen keys."""

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone
from rest_framework_simplejwt.tokens import AccessToken

from core import streams
from core.models import Event
from tests.stream_helpers import (
    DEMO_DRAW_KIND,
    DEMO_EVENT_KIND,
    closed_with,
    communicator,
    connected,
    fresh_channel_layer,  # noqa: F401 (autouse)
    receive,
    screen_key_for,
    swap_stream_kind,
)

pytestmark = pytest.mark.django_db(transaction=True)

publish = sync_to_async(streams.publish)


@pytest.fixture
def event():
    with swap_stream_kind(DEMO_EVENT_KIND), swap_stream_kind(DEMO_DRAW_KIND):
        yield Event.objects.create(title="Gala", starts_at=timezone.now(), status="published")


@pytest.fixture
def token(user):
    return str(AccessToken.for_user(user))


async def test_anonymous_viewer_reads_a_public_stream(event):
    ws = await connected(f"/ws/events/{event.pk}/")
    assert (await receive(ws))["data"]["viewer"] is None
    await ws.disconnect()


async def test_jwt_subprotocol_authenticates_and_only_the_protocol_name_is_echoed(
        event, user, token):
    ws = communicator(f"/ws/events/{event.pk}/", subprotocols=["tombola.v1", f"jwt.{token}"])
    accepted, subprotocol = await ws.connect()
    assert accepted and subprotocol == "tombola.v1"
    assert (await receive(ws))["data"]["viewer"] == user.pk
    await ws.disconnect()


async def test_invalid_jwt_subprotocol_gets_error_frame_and_close_4401(event, token):
    ws = communicator(f"/ws/events/{event.pk}/",
                      subprotocols=["tombola.v1", f"jwt.{token[:-3]}xyz"])
    accepted, subprotocol = await ws.connect()
    assert accepted and subprotocol == "tombola.v1"
    frames, code = await closed_with(ws)
    assert [f["code"] for f in frames] == ["invalid_token"] and code == 4401


async def test_jwt_of_an_inactive_user_is_refused(event, user, token):
    user.is_active = False
    await sync_to_async(user.save)()
    ws = communicator(f"/ws/events/{event.pk}/", subprotocols=["tombola.v1", f"jwt.{token}"])
    await ws.connect()
    _, code = await closed_with(ws)
    assert code == 4401


async def test_token_subprotocol_without_the_protocol_name_closes_4400(event, token):
    ws = communicator(f"/ws/events/{event.pk}/", subprotocols=[f"jwt.{token}"])
    accepted, subprotocol = await ws.connect()
    assert accepted and subprotocol is None
    frames, code = await closed_with(ws)
    assert [f["code"] for f in frames] == ["subprotocol_required"] and code == 4400


@pytest.mark.parametrize("name", ["token", "access_token", "jwt"])
async def test_token_in_the_url_is_refused_even_when_valid(event, token, name):
    ws = await connected(f"/ws/events/{event.pk}/?{name}={token}")
    frames, code = await closed_with(ws)
    assert [f["code"] for f in frames] == ["token_in_url"] and code == 4400
    assert token not in str(frames)


async def test_auth_message_authenticates_and_sends_a_fresh_snapshot(event, user, token):
    ws = await connected(f"/ws/events/{event.pk}/")
    assert (await receive(ws))["data"]["viewer"] is None
    await ws.send_json_to({"type": "auth", "token": token})
    assert await receive(ws) == {"type": "authenticated", "user": user.pk, "screen": False}
    snapshot = await receive(ws)
    assert (snapshot["type"], snapshot["data"]["viewer"]) == ("snapshot", user.pk)
    await ws.disconnect()


async def test_auth_message_with_a_bad_token_closes_4401(event):
    ws = await connected(f"/ws/events/{event.pk}/")
    await receive(ws)
    await ws.send_json_to({"type": "auth", "token": "not-a-jwt"})
    frames, code = await closed_with(ws)
    assert [f["code"] for f in frames] == ["invalid_token"] and code == 4401


async def test_refresh_token_is_not_an_access_token(event, user):
    from rest_framework_simplejwt.tokens import RefreshToken

    refresh = await sync_to_async(RefreshToken.for_user)(user)
    ws = await connected(f"/ws/events/{event.pk}/")
    await receive(ws)
    await ws.send_json_to({"type": "auth", "token": str(refresh)})
    _, code = await closed_with(ws)
    assert code == 4401


async def test_screen_key_viewer_also_gets_the_screen_stream(event):
    screen = f"screen:{event.pk}"
    await publish(screen, "checkin.code", {"code": "K7Q2", "valid_until": 1.0})
    ws = await connected(f"/ws/events/{event.pk}/?key={screen_key_for(event.pk)}")
    main = await receive(ws)
    assert main["data"]["screen"] is True
    screen_snapshot = await receive(ws)
    assert screen_snapshot == {**screen_snapshot, "stream": screen, "seq": 1, "type": "snapshot",
                               "data": {"checkin.code": {"code": "K7Q2", "valid_until": 1.0}}}
    await publish(screen, "checkin.code", {"code": "M3X9", "valid_until": 31.0})
    relayed = await receive(ws)
    assert (relayed["stream"], relayed["seq"], relayed["data"]["code"]) == (screen, 2, "M3X9")
    await ws.disconnect()


async def test_a_viewer_without_screen_key_never_gets_the_checkin_code(event):
    ws = await connected(f"/ws/events/{event.pk}/")
    await receive(ws)
    await publish(f"screen:{event.pk}", "checkin.code", {"code": "K7Q2"})
    await publish(f"event:{event.pk}", "event.updated", {"title": "x"})
    assert (await receive(ws))["stream"] == f"event:{event.pk}"
    assert await ws.receive_nothing(0.05)
    await ws.disconnect()


async def test_wrong_screen_key_closes_4403(event):
    ws = await connected(f"/ws/events/{event.pk}/?key=guess")
    frames, code = await closed_with(ws)
    assert [f["code"] for f in frames] == ["invalid_screen_key"] and code == 4403


async def test_screen_key_by_message_joins_the_screen_stream(event):
    ws = await connected(f"/ws/events/{event.pk}/")
    await receive(ws)
    await ws.send_json_to({"type": "auth", "screen_key": screen_key_for(event.pk)})
    assert await receive(ws) == {"type": "authenticated", "user": None, "screen": True}
    assert (await receive(ws))["data"]["screen"] is True
    assert (await receive(ws))["stream"] == f"screen:{event.pk}"
    await publish(f"screen:{event.pk}", "checkin.code", {"code": "K7Q2"})
    assert (await receive(ws))["data"] == {"code": "K7Q2"}
    await ws.disconnect()


async def test_draw_screen_viewer_joins_the_screen_of_the_draws_event(event):
    # The demo draw kind says draw N belongs to event N.
    ws = await connected(f"/ws/draws/{event.pk}/?key={screen_key_for(event.pk)}")
    await receive(ws)
    assert (await receive(ws))["stream"] == f"screen:{event.pk}"
    await ws.disconnect()


async def test_screen_key_on_a_kind_without_screens_is_refused(event):
    kind = DEMO_EVENT_KIND.__class__(name="event", snapshot=DEMO_EVENT_KIND.snapshot)
    with swap_stream_kind(kind):
        ws = await connected(f"/ws/events/{event.pk}/?key={screen_key_for(event.pk)}")
        _, code = await closed_with(ws)
    assert code == 4403
