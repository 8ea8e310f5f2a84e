from datetime import timedelta

import pytest
from django.utils import timezone

from core.models import Event
from tests.factories import make_event

pytestmark = pytest.mark.django_db


def ids(response):
    return [e["id"] for e in response.json()["results"]]


def test_list_shows_public_events_only_to_non_staff(api):
    public = [make_event(status=s) for s in ("published", "live", "ended")]
    make_event(status="draft")
    response = api.get("/api/events/")
    assert response.status_code == 200
    assert sorted(ids(response)) == sorted(e.pk for e in public)
    assert response.json()["count"] == 3


def test_staff_sees_drafts(staff_api):
    draft = make_event(status="draft")
    assert draft.pk in ids(staff_api.get("/api/events"))


def test_filters_upcoming_live_and_date_range(api):
    now = timezone.now()
    past = make_event(starts_at=now - timedelta(days=3), status="ended")
    live = make_event(starts_at=now - timedelta(hours=1), status="live")
    soon = make_event(starts_at=now + timedelta(days=2))
    assert ids(api.get("/api/events/?upcoming=true")) == [soon.pk]
    assert ids(api.get("/api/events/?live=1")) == [live.pk]
    day = (now - timedelta(days=3)).date().isoformat()
    assert ids(api.get(f"/api/events/?from_date={day}&to_date={day}")) == [past.pk]


def test_list_is_paginated(api):
    for _ in range(3):
        make_event()
    body = api.get("/api/events/?page_size=2").json()
    assert body["count"] == 3 and len(body["results"]) == 2 and body["next"]


def test_bad_filter_is_400(api):
    response = api.get("/api/events/?from_date=yesterday")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid" and "from_date" in response.json()["fields"]


def test_detail_hides_drafts_from_public(api, staff_api):
    draft = make_event(status="draft")
    assert api.get(f"/api/events/{draft.pk}/").status_code == 404
    assert api.get(f"/api/events/{draft.pk}").json()["code"] == "event_not_found"
    assert staff_api.get(f"/api/events/{draft.pk}/").json()["title"] == draft.title


def test_staff_creates_event(staff_api):
    response = staff_api.post("/api/events/", {
        "title": "Gala", "starts_at": "2030-01-01T18:00:00Z", "ends_at": "2030-01-01T23:00:00Z",
        "status": "published", "time_zone": "Europe/Paris", "checkin_code_required": True,
    })
    assert response.status_code == 201
    event = Event.objects.get(pk=response.json()["id"])
    assert event.time_zone == "Europe/Paris" and event.checkin_code_required


@pytest.mark.parametrize("body, field", [
    ({"starts_at": "2030-01-01T18:00:00Z"}, "title"),
    ({"title": "x"}, "starts_at"),
    ({"title": "x", "starts_at": "soon"}, "starts_at"),
    ({"title": "x", "starts_at": "2030-01-02T00:00:00Z", "ends_at": "2030-01-01T00:00:00Z"},
     "ends_at"),
    ({"title": "x", "starts_at": "2030-01-01T00:00:00Z", "time_zone": "Mars/Base"}, "time_zone"),
    ({"title": "x", "starts_at": "2030-01-01T00:00:00Z", "status": "cancelled"}, "status"),
    ({"title": "x", "starts_at": "2030-01-01T00:00:00Z", "venue": 999}, "venue"),
])
def test_invalid_event_is_400_and_creates_nothing(staff_api, body, field):
    response = staff_api.post("/api/events/", body)
    assert response.status_code == 400
    assert field in response.json()["fields"]
    assert not Event.objects.exists()


def test_non_staff_cannot_write_events(api, user_api):
    body = {"title": "x", "starts_at": "2030-01-01T00:00:00Z"}
    assert api.post("/api/events/", body).status_code == 401
    assert user_api.post("/api/events/", body).status_code == 403
    event = make_event()
    assert user_api.patch(f"/api/events/{event.pk}/", {"title": "y"}).status_code == 403
    assert not Event.objects.filter(title__in=["x", "y"]).exists()


def test_staff_patches_event_and_checks_dates(staff_api):
    event = make_event()
    response = staff_api.patch(f"/api/events/{event.pk}/", {"status": "live"})
    assert response.status_code == 200 and response.json()["status"] == "live"
    bad = staff_api.patch(f"/api/events/{event.pk}/",
                          {"ends_at": (event.starts_at - timedelta(hours=1)).isoformat()})
    assert bad.status_code == 400 and "ends_at" in bad.json()["fields"]
    event.refresh_from_db()
    assert event.status == "live" and event.ends_at is None


@pytest.mark.django_db(transaction=True)
def test_event_update_is_published_after_commit(staff_api):
    from core import streams

    event = make_event()
    staff_api.patch(f"/api/events/{event.pk}/", {"title": "Renamed"})
    history = streams.history_since(f"event:{event.pk}", 0)
    assert [m["type"] for m in history.messages] == ["event.updated"]
    assert history.messages[0]["data"]["event"]["title"] == "Renamed"
