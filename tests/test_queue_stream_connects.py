"""A crowd opening the queue stream at once costs no database read per socket.

bench/waiting_room.py: 2,000 buyers opening ws/events/<id>/queue/ took 35 s, each socket
queueing a user query (authentication) and two visibility queries (the snapshot) on
its worker's one database thread. Now the user comes from the token's claims, the
visibility check is shared by the sockets of one audience connecting at once, and
each socket's place is read from the line alone (StreamKind.personalize).
"""

from __future__ import annotations

import asyncio

import pytest

from core.authentication import SessionRefreshToken
from tests.stream_helpers import communicator, fanout, receive  # noqa: F401 (a fixture)
from tests.ticketing_helpers import make_event
from ticketing import streams as ticketing_streams
from ticketing.services.waiting_room import queue_join, waiting_room_configure

pytest_plugins = ["tests.ticketing_fixtures"]
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fanout")]

BUYERS = 30


@pytest.fixture
def line(venue, make_user):
    """An event whose room is open (the sale started: numbers are FIFO), BUYERS in line."""
    event = make_event(venue)
    waiting_room_configure(event=event, actor=None, rate_per_minute=60)
    buyers = [make_user(email=f"buyer{i}@example.com") for i in range(BUYERS)]
    for buyer in buyers:
        queue_join(event_id=event.pk, user=buyer)
    tokens = [str(SessionRefreshToken.for_user(b).access_token) for b in buyers]
    return event, tokens


async def test_sockets_opening_at_once_share_the_check_and_each_sees_its_own_place(
        line, monkeypatch):
    from rest_framework_simplejwt.authentication import JWTAuthentication

    event, tokens = line
    checks = []
    real_check = ticketing_streams._visible_room

    def counted_check(event_id, viewer):
        checks.append(event_id)
        return real_check(event_id, viewer)

    def no_user_query(self, token):
        raise AssertionError("a socket with a session token loaded its user row")

    monkeypatch.setattr(ticketing_streams, "_visible_room", counted_check)
    monkeypatch.setattr(JWTAuthentication, "get_user", no_user_query)

    async def watch(number, token):
        ws = communicator(f"/ws/events/{event.pk}/queue/",
                          subprotocols=["tombola.v2", f"jwt.{token}"])
        accepted, _ = await ws.connect()
        assert accepted
        frame = await receive(ws, timeout=30)  # generous: a loaded machine
        await ws.disconnect()
        return number, frame

    frames = await asyncio.gather(*(watch(n, b) for n, b in enumerate(tokens, start=1)))
    for number, frame in frames:
        assert frame["type"] == "snapshot", frame
        me = frame["data"]["me"]
        assert (me["state"], me["number"], me["position"]) == ("waiting", number, number)
        assert frame["data"]["length"] == BUYERS
    assert len(checks) < BUYERS / 2, f"{len(checks)} visibility checks for {BUYERS} sockets"


async def test_an_anonymous_screen_gets_the_line_without_anyones_place(line):
    event, _ = line
    ws = communicator(f"/ws/events/{event.pk}/queue/", subprotocols=["tombola.v2"])
    accepted, _ = await ws.connect()
    assert accepted
    frame = await receive(ws, timeout=30)  # generous: a loaded machine
    await ws.disconnect()
    assert frame["data"]["me"] is None
    assert frame["data"]["length"] == BUYERS
