"""Draws and check-in (issue 14): a draw is never scheduled in the past (the scheduler
would perform it at once, with no entries), check-in opens a set time before the event,
and an event at a venue asks for the presence code unless the organiser says otherwise."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from core.models import Event, Venue
from live import checkin
from live.models import CheckIn, Draw
from tests.factories import draw_url, make_draw, make_event

pytestmark = pytest.mark.django_db

PRIZES = [{"name": "Hat", "rank": 1}]


def _iso(moment) -> str:
    return moment.isoformat().replace("+00:00", "Z")


# --- draws -----------------------------------------------------------------------------


@pytest.mark.parametrize("ago", [timedelta(seconds=1), timedelta(days=3)])
def test_a_draw_scheduled_in_the_past_is_refused(staff_api, ago):
    event = make_event()
    response = staff_api.post(f"/api/events/{event.pk}/draws/", {
        "title": "Too late", "prizes": PRIZES, "scheduled_at": _iso(timezone.now() - ago)},
        format="json")
    assert response.status_code == 400, response.json()
    assert response.json()["code"] == "scheduled_in_past"
    assert "scheduled_at" in response.json()["fields"]
    assert not Draw.objects.exists()


def test_a_draw_scheduled_ahead_is_created(staff_api):
    event = make_event()
    response = staff_api.post(f"/api/events/{event.pk}/draws/", {
        "title": "Tonight", "prizes": PRIZES,
        "scheduled_at": _iso(timezone.now() + timedelta(minutes=5))}, format="json")
    assert response.status_code == 201, response.json()


def test_a_draw_cannot_be_moved_into_the_past(staff_api):
    draw = make_draw(scheduled_at=timezone.now() + timedelta(hours=1))
    response = staff_api.patch(draw_url(draw), {
        "scheduled_at": _iso(timezone.now() - timedelta(minutes=1))}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "scheduled_in_past"
    assert Draw.objects.get(pk=draw.pk).scheduled_at > timezone.now()
    later = timezone.now() + timedelta(hours=2)
    moved = staff_api.patch(draw_url(draw), {"scheduled_at": _iso(later)}, format="json")
    assert moved.status_code == 200, moved.json()
    # Other edits of a draw that is already due are not refused for its time.
    Draw.objects.filter(pk=draw.pk).update(scheduled_at=timezone.now() - timedelta(seconds=1))
    assert staff_api.patch(draw_url(draw), {"title": "Renamed"}, format="json").status_code == 200


@pytest.fixture
def browser(superuser_browser):
    return superuser_browser


def test_the_admin_refuses_a_draw_scheduled_in_the_past(browser):
    event = make_event()
    past = timezone.now() - timedelta(hours=1)
    form = {
        "event": event.pk, "title": "Admin draw", "kind": "raffle", "eligibility": "registered",
        "claim_window_minutes": 60, "max_ballots": 1, "lottery_mode": "tiers",
        "recurrence": "none", "created_at_0": "2030-01-01", "created_at_1": "00:00:00",
        "scheduled_at_0": past.strftime("%Y-%m-%d"),
        "scheduled_at_1": past.strftime("%H:%M:%S"),
        "prizes-TOTAL_FORMS": 1, "prizes-INITIAL_FORMS": 0,
        "prizes-0-name": "Hat", "prizes-0-quantity": 1, "prizes-0-rank": 1,
    }
    response = browser.post("/admin/live/draw/add/", form, follow=True)
    assert response.status_code == 200
    assert "cannot be scheduled in the past" in response.content.decode()
    assert not Draw.objects.exists()


# --- check-in window -------------------------------------------------------------------


def test_check_in_before_the_window_opens_is_409(user_api, user):
    event = make_event(starts_at=timezone.now() + timedelta(hours=5), checkin_opens_before=120)
    response = user_api.post(f"/api/events/{event.pk}/checkin/", {})
    assert response.status_code == 409, response.json()
    body = response.json()
    assert body["code"] == "checkin_not_open_yet"
    opens_at = event.starts_at - timedelta(minutes=120)
    assert body["opens_at"] == _iso(opens_at)
    assert not CheckIn.objects.exists()


def test_check_in_opens_the_set_time_before_the_start(user_api):
    soon = make_event(starts_at=timezone.now() + timedelta(minutes=90))  # default: 120 min
    Event.objects.filter(pk=soon.pk).update(checkin_opens_before=120)
    assert user_api.post(f"/api/events/{soon.pk}/checkin/", {}).status_code == 201
    started = make_event(starts_at=timezone.now() - timedelta(minutes=30),
                         checkin_opens_before=0)
    assert user_api.post(f"/api/events/{started.pk}/checkin/", {}).status_code == 201


def test_the_window_is_a_field_of_the_event(staff_api):
    response = staff_api.post("/api/events/", {
        "title": "Gala", "starts_at": _iso(timezone.now() + timedelta(days=2)),
        "status": "published"}, format="json")
    assert response.status_code == 201
    assert response.json()["checkin_opens_before"] == 120
    event_id = response.json()["id"]
    patched = staff_api.patch(f"/api/events/{event_id}/", {"checkin_opens_before": 30},
                              format="json")
    assert patched.status_code == 200 and patched.json()["checkin_opens_before"] == 30
    assert Event.objects.get(pk=event_id).checkin_opens_before == 30


# --- the presence code by default at a venue ---------------------------------------------


def test_an_event_at_a_venue_requires_the_presence_code_by_default(staff_api, user_api):
    venue = Venue.objects.create(name="Hall")
    made = staff_api.post("/api/events/", {
        "title": "Gala", "starts_at": _iso(timezone.now() + timedelta(hours=1)),
        "status": "published", "venue": venue.pk}, format="json")
    assert made.status_code == 201, made.json()
    assert made.json()["checkin_code_required"] is True
    event = Event.objects.get(pk=made.json()["id"])
    refused = user_api.post(f"/api/events/{event.pk}/checkin/", {})
    assert refused.status_code == 400 and refused.json()["code"] == "invalid_checkin_code"
    code = checkin.current_code(event)["code"]
    assert user_api.post(f"/api/events/{event.pk}/checkin/", {"code": code}).status_code == 201


def test_the_organiser_may_turn_the_code_off_and_events_without_a_venue_need_none(staff_api):
    venue = Venue.objects.create(name="Hall")
    off = staff_api.post("/api/events/", {
        "title": "Open day", "starts_at": _iso(timezone.now() + timedelta(hours=1)),
        "venue": venue.pk, "checkin_code_required": False}, format="json")
    assert off.json()["checkin_code_required"] is False
    online = staff_api.post("/api/events/", {
        "title": "Stream", "starts_at": _iso(timezone.now() + timedelta(hours=1))},
        format="json")
    assert online.json()["checkin_code_required"] is False


def test_the_admin_defaults_the_code_on_for_an_event_at_a_venue(browser):
    venue = Venue.objects.create(name="Hall")
    start = timezone.now() + timedelta(days=1)
    form = {"title": "Gala", "description": "", "starts_at_0": start.strftime("%Y-%m-%d"),
            "starts_at_1": start.strftime("%H:%M:%S"), "status": "draft",
            "venue": venue.pk, "time_zone": "UTC", "language": "en",
            "checkin_opens_before": 120,
            "sale-TOTAL_FORMS": 0, "sale-INITIAL_FORMS": 0,
            "section_prices-TOTAL_FORMS": 0, "section_prices-INITIAL_FORMS": 0}
    response = browser.post("/admin/core/event/add/", form)
    assert response.status_code == 302, response.content.decode()[:3000]
    assert Event.objects.get(title="Gala").checkin_code_required is True
    response = browser.post("/admin/core/event/add/", {**form, "title": "Online",
                                                       "venue": ""})
    assert response.status_code == 302
    assert Event.objects.get(title="Online").checkin_code_required is False
