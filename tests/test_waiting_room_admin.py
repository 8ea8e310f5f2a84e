"""The waiting room's admin: a list with the line's live figures, a change form and
actions that go through ticketing/services/waiting_room.py (audited, copied to the
line's store), and pages that still render when the store (Redis) is down."""

from __future__ import annotations

import re

import pytest
import redis
from django.test import Client

from core.models import AuditEntry
from tests.factories import make_event
from tests.ticketing_helpers import committed
from ticketing import queue_admin
from ticketing.models import WaitingRoom
from ticketing.queue_line import queue_line
from ticketing.services.waiting_room import (
    queue_join,
    queue_leave,
    waiting_room_configure,
    waiting_room_set_status,
)

pytestmark = pytest.mark.django_db

LIST = "/admin/ticketing/waitingroom/"



@pytest.fixture
def browser(staff):
    """The organiser's staff account (model permissions, not a superuser)."""
    client = Client()
    client.force_login(staff)
    return client


@pytest.fixture
def on_commit(django_capture_on_commit_callbacks):
    """Run what the services do after commit (the copy to the line's store) when the
    request is done, as a real request's transaction would."""
    def run(call, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return call(*args, **kwargs)
    return run


def make_room(title: str = "Cup final", **settings) -> WaitingRoom:
    return committed(waiting_room_configure, event=make_event(title=title), actor=None,
                     source="test", **{"rate_per_minute": 600, **settings})


def cell(html: str, room: WaitingRoom, column: str) -> str:
    """The text of one column of one room's row on the list page."""
    row = re.search(rf'<tr>(?:(?!</tr>).)*value="{room.pk}"(?:(?!</tr>).)*</tr>', html, re.S)
    assert row, f"no row for room {room.pk}"
    found = re.search(rf'class="field-{column}[^"]*">(.*?)</t[dh]>', row.group(0), re.S)
    assert found, f"no column {column}"
    return re.sub(r"<[^>]+>", "", found.group(1)).strip()


def buyers(make_user, n: int, tag: str = "buyer") -> list:
    return [make_user(email=f"{tag}{i}@example.com") for i in range(n)]


def form_data(room: WaitingRoom, **changes) -> dict:
    data = {"status": room.status, "mode": room.mode, "rate_per_minute": room.rate_per_minute,
            "max_rate_per_minute": room.max_rate_per_minute,
            "target_latency_ms": room.target_latency_ms,
            "opens_minutes_before_sale": room.opens_minutes_before_sale,
            "pass_minutes": room.pass_minutes}
    return {**data, **changes}


def act(browser, action: str, rooms: list[WaitingRoom]):
    return browser.post(LIST, {"action": action, "_selected_action": [r.pk for r in rooms]},
                        follow=True)


def shown_messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


# --- the list ------------------------------------------------------------------------


def test_list_shows_each_rooms_live_figures(browser, make_user):
    busy, quiet = make_room("Cup final"), make_room("Friendly")
    people = buyers(make_user, 4)
    for person in people:
        queue_join(event_id=busy.event_id, user=person)
    queue_leave(event_id=busy.event_id, user=people[-1])
    response = browser.get(LIST)
    assert response.status_code == 200
    html = response.content.decode()
    assert cell(html, busy, "event") == "Cup final"
    assert (cell(html, busy, "status"), cell(html, busy, "mode")) == ("Open", "Fixed")
    assert cell(html, busy, "rate") == "600"
    assert cell(html, busy, "length") == "3"
    assert cell(html, busy, "abandoned") == "1"  # left the line
    assert [cell(html, busy, c) for c in ("admitted", "passes_out", "purchases")] == \
        ["0", "0", "0"]
    assert cell(html, quiet, "length") == "0"


def test_list_shows_an_adaptive_rooms_current_rate(browser):
    room = make_room(mode="adaptive", rate_per_minute=300, max_rate_per_minute=3000)
    queue_line().set_rate(room.event_id, 450.0)  # what the admission job steered it to
    html = browser.get(LIST).content.decode()
    assert cell(html, room, "rate") == "now 450 (from 300, at most 3000)"


def test_pages_say_unavailable_when_the_store_is_down(browser, monkeypatch):
    first, second = make_room("Cup final"), make_room("Friendly")
    calls = []

    def down(event_id):
        calls.append(event_id)
        raise redis.ConnectionError("Connection refused")

    monkeypatch.setattr(queue_admin, "room_figures", down)
    response = browser.get(LIST)
    assert response.status_code == 200
    html = response.content.decode()
    for room in (first, second):
        assert cell(html, room, "length") == "unavailable"
        assert cell(html, room, "abandoned") == "unavailable"
    assert len(calls) == 1, "after one failure the list does not wait on each room"
    page = browser.get(f"{LIST}{first.pk}/change/")
    assert page.status_code == 200
    assert "the line's store (Redis) is not answering" in page.content.decode()


# --- actions ---------------------------------------------------------------------------


def test_pause_action_pauses_through_the_service_and_is_audited(browser, staff, on_commit):
    first, second = make_room("Cup final"), make_room("Friendly")
    response = on_commit(act, browser, "pause_rooms", [first, second])
    assert response.status_code == 200
    assert set(WaitingRoom.objects.values_list("status", flat=True)) == {"paused"}
    assert shown_messages(response) == [
        "Paused admission in 2 waiting rooms (Cup final, Friendly): nobody more is let in; "
        "passes already out stay valid and buyers can still join."]
    audits = AuditEntry.objects.filter(action="waiting_room.paused")
    assert {(a.object_id, a.actor_id, a.data["source"], a.data["from"]) for a in audits} == {
        (str(first.pk), staff.pk, "admin", "open"), (str(second.pk), staff.pk, "admin", "open")}
    assert queue_line().place(first.event_id, None).status == "paused"  # the store follows


def test_resume_action_reopens_a_closed_room_and_says_so(browser, on_commit):
    paused, closed, running = make_room("Cup final"), make_room("Friendly"), make_room("Derby")
    committed(waiting_room_set_status, room=paused, status="paused", actor=None)
    committed(waiting_room_set_status, room=closed, status="closed", actor=None)
    response = on_commit(act, browser, "resume_rooms", [paused, closed, running])
    assert set(WaitingRoom.objects.values_list("status", flat=True)) == {"open"}
    assert shown_messages(response) == [
        "Resumed admission in 1 waiting room (Cup final).",
        "Reopened 1 waiting room (Friendly): holding and buying seats need an admission "
        "pass again.",
        "Already open: Derby."]
    assert AuditEntry.objects.filter(action="waiting_room.open").count() == 2
    assert queue_line().place(closed.event_id, None).status == "open"


def test_close_action_closes_the_room_and_the_line_stops_requiring_passes(browser, on_commit):
    room = make_room()
    response = on_commit(act, browser, "close_rooms", [room])
    assert shown_messages(response) == [
        "Closed 1 waiting room (Cup final): the sale is direct, no pass needed (the line is "
        "kept; resume to bring it back)."]
    room.refresh_from_db()
    assert room.status == "closed" and not room.requires_pass
    assert AuditEntry.objects.filter(action="waiting_room.closed").count() == 1
    assert queue_line().place(room.event_id, None).status == "closed"


def test_actions_need_the_change_permission(make_user):
    from django.contrib.auth.models import Permission

    viewer = make_user(email="viewer@example.com", is_staff=True)
    viewer.user_permissions.set(Permission.objects.filter(codename="view_waitingroom"))
    client = Client()
    client.force_login(viewer)
    room = make_room()
    assert client.get(LIST).status_code == 200
    act(client, "pause_rooms", [room])
    room.refresh_from_db()
    assert room.status == "open"


# --- the change form -------------------------------------------------------------------


def test_changing_the_rate_goes_through_the_service(browser, staff, on_commit):
    room = make_room(rate_per_minute=600)
    response = on_commit(browser.post, f"{LIST}{room.pk}/change/",
                         form_data(room, rate_per_minute=120))
    assert response.status_code == 302, response.content.decode()
    assert queue_line().place(room.event_id, None).rate_per_minute == 120
    room.refresh_from_db()
    assert room.rate_per_minute == 120
    entry = AuditEntry.objects.filter(action="waiting_room.configured",
                                      actor_id=staff.pk).get()
    assert entry.data["source"] == "admin" and entry.data["rate_per_minute"] == 120
    assert not AuditEntry.objects.filter(action__in=["waiting_room.open",
                                                     "waiting_room.paused"]).exists()


def test_changing_the_status_in_the_form_goes_through_set_status(browser, staff, on_commit):
    room = make_room()
    response = on_commit(browser.post, f"{LIST}{room.pk}/change/",
                         form_data(room, status="paused"))
    assert response.status_code == 302
    assert queue_line().place(room.event_id, None).status == "paused"
    assert AuditEntry.objects.get(action="waiting_room.paused").actor_id == staff.pk
    # The settings did not change: no configuration entry from the admin.
    assert not AuditEntry.objects.filter(action="waiting_room.configured",
                                         actor_id=staff.pk).exists()


def test_a_rate_above_the_ceiling_raises_the_ceiling_as_the_api_does(browser, on_commit):
    room = make_room(rate_per_minute=600, max_rate_per_minute=1000)
    response = on_commit(browser.post, f"{LIST}{room.pk}/change/",
                         form_data(room, rate_per_minute=2000))
    assert response.status_code == 302
    room.refresh_from_db()
    assert (room.rate_per_minute, room.max_rate_per_minute) == (2000, 2000)
    refused = browser.post(f"{LIST}{room.pk}/change/",
                           form_data(room, rate_per_minute=2000, max_rate_per_minute=100))
    assert refused.status_code == 200
    assert "The highest rate cannot be below the rate." in refused.content.decode()


def test_adding_a_room_creates_it_through_the_service(browser, staff, on_commit):
    event = make_event(title="Cup final")
    page = browser.get(f"{LIST}add/?event={event.pk}")
    assert page.status_code == 200
    assert f'<option value="{event.pk}" selected>' in page.content.decode()
    response = on_commit(browser.post, f"{LIST}add/", {
        **form_data(WaitingRoom(), status="paused", rate_per_minute=90), "event": event.pk})
    assert response.status_code == 302, response.content.decode()
    room = WaitingRoom.objects.get(event=event)
    assert (room.status, room.rate_per_minute) == ("paused", 90)
    place = queue_line().place(event.pk, None)
    assert (place.status, place.rate_per_minute) == ("paused", 90)
    assert list(AuditEntry.objects.order_by("pk").values_list("action", flat=True)) == [
        "waiting_room.configured", "waiting_room.paused"]


def test_add_form_offers_only_events_without_a_room(browser):
    taken = make_room("Cup final").event
    free = make_event(title="Friendly")
    html = browser.get(f"{LIST}add/").content.decode()
    assert f'<option value="{free.pk}">' in html
    assert f'<option value="{taken.pk}"' not in html


def test_change_page_shows_the_live_figures(browser, make_user):
    room = make_room()
    for person in buyers(make_user, 2):
        queue_join(event_id=room.event_id, user=person)
    html = browser.get(f"{LIST}{room.pk}/change/").content.decode()
    assert re.search(r"<th>waiting in the line</th><td>2</td>", html)
    assert re.search(r"<th>admission rate now</th><td>600 a minute</td>", html)
    assert f"/ws/events/{room.event_id}/queue/staff/" in html


def test_a_room_cannot_be_deleted_only_closed(browser):
    room = make_room()
    assert browser.get(f"{LIST}{room.pk}/delete/").status_code == 403
    assert "delete_selected" not in browser.get(LIST).content.decode()


# --- the event's page ------------------------------------------------------------------


def test_event_page_links_to_its_waiting_room_or_to_adding_one(browser):
    room = make_room("Cup final")
    html = browser.get(f"/admin/core/event/{room.event_id}/change/").content.decode()
    assert f'href="{LIST}{room.pk}/change/">open, fixed at 600 a minute</a>' in html
    bare = make_event(title="Friendly")
    html = browser.get(f"/admin/core/event/{bare.pk}/change/").content.decode()
    assert f'href="{LIST}add/?event={bare.pk}">' in html
