"""The real stream kinds over the real consumer: live's event and draw streams, ticketing's
seat stream, and the venue screen. Each action is checked Zulip-style (averify_action,
with each kind's own reducer): the snapshot a phone gets, plus the deltas it receives,
equals a fresh snapshot."""

from __future__ import annotations

import re

import pytest
from channels.db import database_sync_to_async

from live.services.checkin import screen_key_issue
from live.services.performing import draw_perform
from tests.factories import make_draw, make_entrants, make_event
from tests.stream_helpers import (
    averify_action,
    connected,
    fanout,  # noqa: F401 (fixture)
    fresh_channel_layer,  # noqa: F401 (autouse)
    receive,
)
from tests.ticketing_helpers import LAYOUT, seats
from tests.ticketing_helpers import make_event as make_sale
from ticketing.services import layout
from ticketing.services.holds import hold_create

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fanout")]


@database_sync_to_async
def _draw_with_entrants():
    draw = make_draw(make_event(status="live"),
                     prizes=[{"name": "Bicycle", "quantity": 2, "rank": 1},
                             {"name": "Mug", "quantity": 1, "rank": 2}])
    make_entrants(draw, 5)
    return draw


async def test_event_stream_snapshot_plus_perform_deltas_equal_a_fresh_snapshot():
    draw = await _draw_with_entrants()
    deltas = await averify_action(
        kind="event", object_id=draw.event_id, path=f"/ws/events/{draw.event_id}/",
        action=lambda: draw_perform(draw=draw, actor=None, source="staff:test"),
    )
    types = [d["type"] for d in deltas]
    assert types[0] == "draw.closing" and types[-1] == "draw.finished"
    assert types.count("draw.winner") == 2  # one per prize


async def test_draw_stream_carries_winners_with_masked_names_and_the_revealed_seed():
    draw = await _draw_with_entrants()
    deltas = await averify_action(
        kind="draw", object_id=draw.pk, path=f"/ws/draws/{draw.pk}/",
        action=lambda: draw_perform(draw=draw, actor=None, source="staff:test"),
    )
    winners = [w for d in deltas if d["type"] == "draw.winner" for w in d["data"]["winners"]]
    assert len(winners) == 3
    assert all("@" not in w["winner"] or "***" in w["winner"] for w in winners)
    finished = deltas[-1]["data"]
    assert re.fullmatch(r"[0-9a-f]{64}", finished["seed"])


async def test_snapshot_dates_are_json_strings_like_the_deltas():
    draw = await _draw_with_entrants()
    ws = await connected(f"/ws/draws/{draw.pk}/")
    snapshot = await receive(ws)
    await ws.disconnect()
    assert snapshot["type"] == "snapshot"
    assert isinstance(snapshot["data"]["draw"]["scheduled_at"] or "", str)
    assert isinstance(snapshot["data"]["server_time"], str)


@database_sync_to_async
def _sale_with_buyer(make_user):
    from core.models import Venue

    venue = Venue.objects.create(name="Arena")
    layout.venue_layout_set(venue=venue, sections=LAYOUT)
    return make_sale(venue), make_user()


async def test_seat_stream_shows_a_hold_as_one_delta(make_user, settings):
    settings.TICKETING_HOLD_BACKEND = "db"
    event, buyer = await _sale_with_buyer(make_user)
    wanted = await database_sync_to_async(seats)(event, "A", "1", 1, 2)
    deltas = await averify_action(
        kind="seats", object_id=event.pk, path=f"/ws/events/{event.pk}/seats/",
        action=lambda: hold_create(event=event, user=buyer, seat_ids=wanted),
    )
    assert [(d["type"], sorted(d["data"]["seats"])) for d in deltas] == [
        ("seat.held", sorted(wanted))]


async def test_venue_screen_gets_the_checkin_code_and_phones_do_not():
    event = await database_sync_to_async(make_event)(status="live", checkin_code_required=True)
    _, key = await database_sync_to_async(screen_key_issue)(
        event=event, actor=None, label="north")

    screen = await connected(f"/ws/events/{event.pk}/?key={key}")
    snapshot = await receive(screen)
    await screen.disconnect()
    assert re.fullmatch(r"\d{6}", snapshot["data"]["checkin"]["code"])

    phone = await connected(f"/ws/events/{event.pk}/")
    snapshot = await receive(phone)
    await phone.disconnect()
    assert "checkin" not in snapshot["data"]


async def test_connections_and_resumes_are_counted_in_metrics():
    from core import metrics, streams

    def value(metric, *labels):
        return metric.labels(*labels)._value.get()

    event = await database_sync_to_async(make_event)(status="live")
    open_before = value(metrics.WS_CONNECTIONS, "event")
    ws = await connected(f"/ws/events/{event.pk}/")
    await receive(ws)
    assert value(metrics.WS_CONNECTIONS, "event") == open_before + 1
    await ws.disconnect()
    assert value(metrics.WS_CONNECTIONS, "event") == open_before

    await database_sync_to_async(streams.publish)(f"event:{event.pk}", "event.updated",
                                                  {"event": {"id": event.pk}})
    replayed = value(metrics.RESUMES, "replayed")
    ws = await connected(f"/ws/events/{event.pk}/?since=0")
    assert (await receive(ws))["seq"] == 1
    await ws.disconnect()
    assert value(metrics.RESUMES, "replayed") == replayed + 1
