"""The waiting room's streams through a real consumer: a phone on ws/events/<id>/queue/
sees its place move and its turn come; the staff stream is for staff only."""

from __future__ import annotations

import time

import pytest
from channels.db import database_sync_to_async
from rest_framework_simplejwt.tokens import AccessToken

from core.streams import Viewer
from tests.stream_helpers import (
    averify_action,
    closed_with,
    connected,
    fanout,  # noqa: F401 (fixture)
    fresh_channel_layer,  # noqa: F401 (fixture)
    receive,
)
from tests.ticketing_helpers import Clock, make_event
from ticketing.queue_line import queue_line
from ticketing.services.waiting_room import waiting_room_configure, waiting_rooms_admit

pytest_plugins = ["tests.ticketing_fixtures"]
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fanout")]

db = database_sync_to_async



@pytest.fixture
def clock():
    line = queue_line()
    previous, line.clock = line.clock, Clock(time.time() + 1)
    yield line.clock
    line.clock = previous


def room_with_line(venue, staff, users):
    event = make_event(venue)
    waiting_room_configure(event=event, actor=staff, rate_per_minute=60)
    for user in users:
        assert queue_line().join(event.pk, user.pk, "").outcome == "joined"
    return event


async def test_a_phone_watches_its_place_move_to_the_front(venue, staff, make_user, clock,
                                                           monkeypatch):
    from ticketing.services import waiting_room

    # Every move told at once: the cadence has its own test (test_waiting_room.py).
    monkeypatch.setattr(waiting_room, "PROGRESS_MOVED_SECONDS", 0.0)
    users = [await db(make_user)(f"q{i}@example.com") for i in range(3)]
    event = await db(room_with_line)(venue, staff, users)
    phone = users[2]
    token = str(AccessToken.for_user(phone))

    def admit(seconds: float) -> None:
        clock.now += seconds
        waiting_rooms_admit()

    await db(admit)(0)
    path = f"/ws/events/{event.pk}/queue/"
    protocols = ["tombola.v2", f"jwt.{token}"]
    ws = await connected(path, subprotocols=protocols)
    snapshot = await receive(ws)
    await ws.disconnect()
    assert snapshot["data"]["me"] == {"state": "waiting", "number": 3, "position": 3,
                                      "eta_seconds": 3}
    deltas = await averify_action(kind="queue", object_id=event.pk, path=path,
                                  viewer=Viewer(user=phone), action=lambda: admit(2),
                                  subprotocols=protocols)
    assert deltas[-1]["data"]["served"] == 2
    deltas = await averify_action(kind="queue", object_id=event.pk, path=path,
                                  viewer=Viewer(user=phone), action=lambda: admit(1),
                                  subprotocols=protocols)
    assert deltas[-1]["data"]["served"] == 3  # number 3 called: its turn


async def test_the_staff_stream_refuses_everyone_else(venue, staff, make_user, clock):
    buyer = await db(make_user)("buyer@example.com")
    event = await db(room_with_line)(venue, staff, [buyer])
    path = f"/ws/events/{event.pk}/queue/staff/"
    token = str(AccessToken.for_user(buyer))
    for offer in ([], ["tombola.v2", f"jwt.{token}"]):
        ws = await connected(path, subprotocols=offer)
        frames, code = await closed_with(ws)
        assert code == 4404 and frames[-1]["code"] == "not_found"
    staff_token = str(AccessToken.for_user(staff))
    ws = await connected(path, subprotocols=["tombola.v2", f"jwt.{staff_token}"])
    snapshot = await receive(ws)
    await ws.disconnect()
    assert snapshot["data"]["figures"]["length"] == 1
    assert snapshot["data"]["room"]["rate_per_minute"] == 60


async def test_an_event_without_a_room_has_no_queue_stream(venue, clock):
    event = await db(make_event)(venue)
    ws = await connected(f"/ws/events/{event.pk}/queue/")
    _, code = await closed_with(ws)
    assert code == 4404


async def test_staff_without_the_rooms_view_permission_may_not_watch(venue, staff, bare_staff,
                                                                   clock):
    event = await db(room_with_line)(venue, staff, [])
    token = str(AccessToken.for_user(bare_staff))
    ws = await connected(f"/ws/events/{event.pk}/queue/staff/",
                         subprotocols=["tombola.v2", f"jwt.{token}"])
    _, code = await closed_with(ws)
    assert code == 4404


async def test_an_early_buyer_learns_their_number_at_the_opening(venue, staff, make_user,
                                                                   clock):
    """Who joined before the sale has no number yet; at the opening the consumer answers
    queue.opened with a fresh snapshot, so a phone that stays connected (or resumes
    across it) reaches the state a fresh snapshot shows, number included."""
    from datetime import timedelta

    from django.utils import timezone

    starts = timezone.now() + timedelta(minutes=5)

    def room_before_the_sale():
        event = make_event(venue, sale_starts_at=starts)
        waiting_room_configure(event=event, actor=staff, rate_per_minute=60,
                               opens_minutes_before_sale=30)
        return event

    event = await db(room_before_the_sale)()
    buyers = [await db(make_user)(f"o{i}@example.com") for i in range(4)]
    for buyer in buyers:
        queue_line().join(event.pk, buyer.pk, "")
    phone = buyers[2]
    protocols = ["tombola.v2", f"jwt.{AccessToken.for_user(phone)}"]
    path = f"/ws/events/{event.pk}/queue/"

    def opening() -> None:
        clock.now = starts.timestamp() + 0.5
        waiting_rooms_admit()
        clock.now += 1.5
        waiting_rooms_admit()

    ws = await connected(path, subprotocols=protocols)
    before = await receive(ws)
    await ws.disconnect()
    assert before["data"]["me"]["number"] is None
    deltas = await averify_action(kind="queue", object_id=event.pk, path=path,
                                  viewer=Viewer(user=phone), action=opening,
                                  subprotocols=protocols)
    reset = [frame for frame in deltas if frame["type"] == "snapshot"]
    assert len(reset) == 1 and reset[0]["reset"] is True
    assert reset[0]["data"]["me"]["number"] in (1, 2, 3, 4)
    assert "queue.opened" not in [frame["type"] for frame in deltas]
    # A phone that slept through the opening resumes into a fresh snapshot too.
    ws = await connected(path + f"?since={before['seq']}", subprotocols=protocols)
    resumed = await receive(ws)
    await ws.disconnect()
    assert (resumed["type"], resumed.get("reset")) == ("snapshot", True)
    assert resumed["data"]["me"]["number"] == reset[0]["data"]["me"]["number"]


async def test_only_the_admitted_buyer_hears_its_turn(venue, staff, make_user, clock):
    """queue.turn is a notice: the admitted buyer's socket gets it at the tick that admits
    it, without a seq; the buyer behind gets the progress only, its seqs unbroken."""
    users = [await db(make_user)(f"t{i}@example.com") for i in range(2)]
    event = await db(room_with_line)(venue, staff, users)
    await db(waiting_rooms_admit)()  # the opening (nobody admitted yet)
    path = f"/ws/events/{event.pk}/queue/"
    front, back = [await connected(path, subprotocols=[
        "tombola.v2", f"jwt.{AccessToken.for_user(user)}"]) for user in users]
    seq = (await receive(front))["seq"]
    assert (await receive(back))["seq"] == seq

    def admit_one() -> None:
        clock.now += 1  # 60 a minute: one buyer
        assert waiting_rooms_admit() == 1

    await db(admit_one)()
    turn, progress = await receive(front), await receive(front)
    assert turn == {"stream": f"queue:{event.pk}", "type": "queue.turn", "ts": turn["ts"],
                    "data": {"state": "admitted", "served": 1}}
    assert progress["type"] == "queue.progress" and progress["seq"] == seq + 1
    behind = await receive(back)
    assert behind["type"] == "queue.progress" and behind["seq"] == seq + 1
    assert await back.receive_nothing(timeout=0.3)
    await front.disconnect()
    await back.disconnect()
