"""Entry progress live: gates:<event_id> follows scans (verify_action), is for the gate
role, staff and venue screens only, and reaches a screen over its socket."""

from __future__ import annotations

from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth.models import AnonymousUser
from django.utils import timezone

from core.streams import Viewer, stream_kind
from live.services.checkin import screen_key_issue
from tests.gate_helpers import grant_scan, make_gate, sell
from tests.stream_helpers import (
    closed_with,
    connected,
    fresh_channel_layer,  # noqa: F401 (autouse)
    receive,
    verify_action,
)
from tests.ticketing_helpers import seats
from ticketing.services import gates
from ticketing.services.ticket_codes import ticket_code

pytest_plugins = ["tests.ticketing_fixtures"]


@pytest.fixture
def entry(sale, user):
    """(event, [North, VIP gates], tickets: two in A, one in B)."""
    north, vip = make_gate(sale, "North"), make_gate(sale, "VIP", sections=("A",))
    sold = sell(sale, user, seats(sale, "A", "1", 1, 2) + seats(sale, "B", "1", 1))
    return sale, [north, vip], sold


def _scan(event, gate, ticket):
    return gates.ticket_scan(event=event, gate=gates.gate_of(event=event, name=gate.name),
                             code=ticket_code(ticket), actor=None)


def test_a_scan_moves_the_gates_count(entry, staff):
    event, (_north, vip), tickets = entry
    deltas = verify_action(kind="gates", object_id=event.pk, viewer=Viewer(user=staff),
                           action=lambda: _scan(event, vip, tickets[0]))
    assert [d["data"] for d in deltas] == [{"gates": [{"id": vip.pk, "scanned": 1}]}]
    snapshot = stream_kind("gates").snapshot(event.pk, Viewer(user=staff))
    assert (snapshot["scanned"], snapshot["expected"]) == (1, 3)
    assert {g["name"]: (g["scanned"], g["expected"]) for g in snapshot["gates"]} == {
        "North": (0, 3), "VIP": (1, 2)}


def test_a_refused_scan_publishes_nothing(entry, staff):
    event, (_north, vip), tickets = entry
    deltas = verify_action(kind="gates", object_id=event.pk, viewer=Viewer(user=staff),
                           action=lambda: _scan(event, vip, tickets[2]))  # wrong gate
    assert deltas == []


def test_an_offline_takeover_moves_two_gates(entry, staff):
    event, (north, vip), tickets = entry
    code = ticket_code(tickets[0])
    verify_action(kind="gates", object_id=event.pk, viewer=Viewer(user=staff),
                  action=lambda: _scan(event, north, tickets[0]))
    earlier = gates.QueuedScan(scan_id="s-1", code=code,
                               scanned_at=timezone.now() - timedelta(minutes=3))
    deltas = verify_action(
        kind="gates", object_id=event.pk, viewer=Viewer(user=staff),
        action=lambda: gates.offline_scan_record(
            event=event, gate=gates.gate_of(event=event, name="VIP"), scan=earlier,
            actor=None))
    assert deltas[-1]["data"] == {"gates": sorted(
        [{"id": north.pk, "scanned": 0}, {"id": vip.pk, "scanned": 1}], key=lambda g: g["id"])}


def test_who_may_watch(entry, user, bare_staff, staff, make_user):
    event = entry[0]
    snapshot = stream_kind("gates").snapshot
    gatekeeper = make_user(email="gate@example.com")
    grant_scan(gatekeeper)
    assert snapshot(event.pk, Viewer(user=user)) is None
    assert snapshot(event.pk, Viewer(user=AnonymousUser())) is None
    assert snapshot(event.pk, Viewer(user=bare_staff)) is None
    assert snapshot(event.pk, Viewer(user=gatekeeper)) is not None
    assert snapshot(event.pk, Viewer(user=staff)) is not None
    assert snapshot(event.pk, Viewer(user=AnonymousUser(), screen=True)) is not None


@pytest.mark.django_db(transaction=True)
async def test_the_venue_screen_gets_the_count_over_its_socket(venue):
    from core.models import User
    from tests.ticketing_helpers import make_event

    @database_sync_to_async
    def setup():
        event = make_event(venue)
        gate = make_gate(event, "North")
        ticket = sell(event, User.objects.create_user(email="b@example.com"),
                      seats(event, "A", "1", 1))[0]
        return event, gate, ticket, screen_key_issue(event=event, actor=None, label="hall")[1]

    event, gate, ticket, key = await setup()
    refused = await connected(f"/ws/events/{event.pk}/gates/")
    frames, code = await closed_with(refused)
    assert code == 4404
    ws = await connected(f"/ws/events/{event.pk}/gates/?key={key}")
    try:
        frames = {}
        while f"gates:{event.pk}" not in frames:
            frame = await receive(ws)
            frames[frame["stream"]] = frame
        snapshot = frames[f"gates:{event.pk}"]
        assert (snapshot["data"]["scanned"], snapshot["data"]["expected"]) == (0, 1)
        await database_sync_to_async(gates.ticket_scan)(
            event=event, gate=await database_sync_to_async(gates.gate_of)(event=event,
                                                                           name="North"),
            code=await database_sync_to_async(ticket_code)(ticket), actor=None)
        while True:
            frame = await receive(ws)
            if frame["stream"] == f"gates:{event.pk}":
                break
        assert frame["type"] == "gate.progress"
        assert frame["data"] == {"gates": [{"id": gate.pk, "scanned": 1}]}
    finally:
        await ws.disconnect()
