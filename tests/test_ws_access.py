"""Access is checked again on open connections (issue 14, streams and screens):
revoking a screen key closes the screens that use it, an event going back to draft
closes the viewers who may no longer see it, and an in-socket resume checks what a
new subscription checks. Both fan-out modes; on Redis the notice crosses workers by
pub/sub."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone
from rest_framework_simplejwt.tokens import AccessToken

from core.models import Event
from core.services.events import event_update
from live.models import ScreenKey
from live.services.checkin import screen_key_issue, screen_key_revoke
from tests.factories import make_draw, make_event
from tests.stream_helpers import (
    closed_with,
    communicator,
    connected,
    fanout,  # noqa: F401 (fixture)
    fresh_channel_layer,  # noqa: F401 (autouse)
    receive,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fanout")]

db = database_sync_to_async


async def open_screen(event_id: int, key: str):
    ws = await connected(f"/ws/events/{event_id}/?key={key}")
    streams = {(await receive(ws))["stream"] for _ in range(2)}
    assert streams == {f"event:{event_id}", f"screen:{event_id}"}
    return ws


async def still_open(ws) -> bool:
    await ws.send_json_to({"type": "ping"})
    while True:
        frame = await receive(ws)
        if frame["type"] == "pong":
            return True


async def closed_after(ws, timeout: float = 3) -> tuple[str, int]:
    """The error code of the last frame before the close, and the close code."""
    frames, code = await closed_with(ws, timeout)
    errors = [f["code"] for f in frames if f.get("type") == "error"]
    return (errors[-1] if errors else None), code


async def test_revoking_a_key_closes_its_screens_4403_and_a_rotated_key_keeps_working():
    event = await db(make_event)(status="live")
    old_row, old_key = await db(screen_key_issue)(event=event, actor=None, label="old")
    _, new_key = await db(screen_key_issue)(event=event, actor=None, label="new")
    old_screen = await open_screen(event.pk, old_key)
    new_screen = await open_screen(event.pk, new_key)  # rotation: both keys work at once
    phone = await connected(f"/ws/events/{event.pk}/")
    await receive(phone)

    await db(screen_key_revoke)(screen_key=old_row)

    assert await closed_after(old_screen) == ("screen_key_revoked", 4403)
    assert await still_open(new_screen) and await still_open(phone)
    again = await connected(f"/ws/events/{event.pk}/?key={old_key}")
    assert await closed_after(again) == ("invalid_screen_key", 4403)
    for ws in (new_screen, phone):
        await ws.disconnect()


async def test_a_revoked_key_closes_its_screen_at_the_next_heartbeat_without_a_notice(settings):
    """A lost notice (a pub/sub reconnect) delays the close by a heartbeat at most."""
    settings.WS_HEARTBEAT_SECONDS = 0.2
    event = await db(make_event)(status="live")
    row, key = await db(screen_key_issue)(event=event, actor=None)
    screen = await open_screen(event.pk, key)
    # Revoked behind the service's back: no control message is sent.
    await db(ScreenKey.objects.filter(pk=row.pk).update)(revoked_at=timezone.now())
    assert await closed_after(screen) == ("screen_key_revoked", 4403)


async def test_an_event_back_to_draft_closes_viewers_who_may_no_longer_see_it(staff):
    event = await db(make_event)(status="published")
    other = await db(make_event)(status="published")
    draw = await db(make_draw)(event)
    token = str(AccessToken.for_user(staff))
    phone = await connected(f"/ws/events/{event.pk}/")
    draw_phone = await connected(f"/ws/draws/{draw.pk}/")
    staff_ws = await connected(f"/ws/events/{event.pk}/", subprotocols=["tombola.v2",
                                                                        f"jwt.{token}"])
    elsewhere = await connected(f"/ws/events/{other.pk}/")
    for ws in (phone, draw_phone, staff_ws, elsewhere):
        assert (await receive(ws))["type"] == "snapshot"

    await db(event_update)(event=event, fields={"status": Event.Status.DRAFT})

    assert await closed_after(phone) == ("access_revoked", 4404)
    assert await closed_after(draw_phone) == ("access_revoked", 4404)
    updated = await receive(staff_ws)  # staff still see the event, and watch on
    assert (updated["type"], updated["data"]["event"]["status"]) == ("event.updated", "draft")
    assert await still_open(staff_ws) and await still_open(elsewhere)
    refused = await connected(f"/ws/events/{event.pk}/")
    assert await closed_after(refused) == ("not_found", 4404)
    for ws in (staff_ws, elsewhere):
        await ws.disconnect()


async def test_publishing_again_keeps_viewers_and_a_status_change_to_live_closes_nobody():
    event = await db(make_event)(status="published")
    phone = await connected(f"/ws/events/{event.pk}/")
    await receive(phone)
    await db(event_update)(event=event, fields={"status": Event.Status.LIVE})
    assert (await receive(phone))["type"] == "event.updated"
    assert await still_open(phone)
    await phone.disconnect()


async def test_resume_checks_access_like_a_new_subscription():
    """Before: an in-socket resume replayed the history with no check at all."""
    event = await db(make_event)(status="published")
    phone = await connected(f"/ws/events/{event.pk}/")
    await receive(phone)
    # Unpublished behind the service's back: no notice, only the resume can notice.
    await db(Event.objects.filter(pk=event.pk).update)(status=Event.Status.DRAFT)
    await phone.send_json_to({"type": "resume", "since": 0})
    assert await closed_after(phone) == ("not_found", 4404)


async def test_resume_on_the_screen_stream_checks_the_key():
    event = await db(make_event)(status="live")
    row, key = await db(screen_key_issue)(event=event, actor=None)
    screen = await open_screen(event.pk, key)
    await db(ScreenKey.objects.filter(pk=row.pk).update)(revoked_at=timezone.now())
    await screen.send_json_to({"type": "resume", "since": 0, "stream": f"screen:{event.pk}"})
    assert await closed_after(screen) == ("screen_key_revoked", 4403)


async def test_resume_still_replays_for_a_viewer_who_may_see_the_stream():
    event = await db(make_event)(status="published")
    phone = communicator(f"/ws/events/{event.pk}/")
    assert (await phone.connect())[0]
    snapshot = await receive(phone)
    await db(event_update)(event=event, fields={"title": "Renamed"})
    updated = await receive(phone)
    await phone.send_json_to({"type": "resume", "since": snapshot["seq"]})
    replayed = await receive(phone)
    assert (replayed["seq"], replayed["type"]) == (updated["seq"], "event.updated")
    await phone.disconnect()


async def test_unpublishing_an_event_in_the_admin_closes_the_public_sockets_too():
    from types import SimpleNamespace

    from django.contrib import admin

    event = await db(make_event)(status="published")
    phone = await connected(f"/ws/events/{event.pk}/")
    await receive(phone)
    form = SimpleNamespace(cleaned_data={"title": event.title, "status": "draft"},
                           changed_data=["status"])
    await db(admin.site._registry[Event].save_model)(None, event, form, True)
    assert await closed_after(phone) == ("access_revoked", 4404)
