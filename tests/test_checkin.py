from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from core.streams import Viewer, stream_kind
from live import checkin
from live.models import CheckIn, ScreenKey
from tests.factories import make_event

pytestmark = pytest.mark.django_db


def url(event):
    return f"/api/events/{event.pk}/checkin/"


def test_checkin_creates_one_checkin(user_api, user):
    event = make_event()
    response = user_api.post(url(event), {})
    assert response.status_code == 201
    assert response.json()["event"] == event.pk
    assert CheckIn.objects.filter(event=event, user=user).count() == 1


def test_same_nonce_answers_same_checkin_and_creates_nothing(user_api):
    event = make_event()
    first = user_api.post(url(event), {"nonce": "abc"})
    again = user_api.post(url(event), {"nonce": "abc"})
    assert again.status_code == 200
    assert again.json() == first.json()
    assert CheckIn.objects.count() == 1


def test_second_checkin_without_nonce_is_409(user_api):
    event = make_event()
    user_api.post(url(event), {"nonce": "abc"})
    for body in ({}, {"nonce": "other"}):
        response = user_api.post(url(event), body)
        assert response.status_code == 409
        assert response.json()["code"] == "already_checked_in"
    assert CheckIn.objects.count() == 1


def test_anonymous_checkin_is_401(api):
    assert api.post(url(make_event()), {}).status_code == 401


def test_checkin_to_draft_is_404_and_ended_is_409(user_api):
    assert user_api.post(url(make_event(status="draft")), {}).status_code == 404
    response = user_api.post(url(make_event(status="ended")), {})
    assert response.status_code == 409 and response.json()["code"] == "event_not_open"
    assert not CheckIn.objects.exists()


def test_checkin_rejects_oversized_nonce(user_api):
    response = user_api.post(url(make_event()), {"nonce": "x" * 65})
    assert response.status_code == 400 and "nonce" in response.json()["fields"]


def test_current_code_is_accepted(user_api):
    event = make_event(checkin_code_required=True)
    code = checkin.current_code(event)["code"]
    assert user_api.post(url(event), {"code": code}).status_code == 201


def test_previous_window_code_is_accepted_but_older_is_not(user, other_user):
    event = make_event(checkin_code_required=True)
    window = checkin.current_window()
    assert checkin.code_is_valid(event, checkin.code_for(event.checkin_secret, window - 1))
    assert not checkin.code_is_valid(event, checkin.code_for(event.checkin_secret, window - 2))


@pytest.mark.parametrize("code", [None, "", "000000x", "stale"])
def test_missing_wrong_or_stale_code_is_400(user_api, code):
    event = make_event(checkin_code_required=True)
    if code == "stale":
        code = checkin.code_for(event.checkin_secret, checkin.current_window() - 2)
    body = {} if code is None else {"code": code}
    response = user_api.post(url(event), body)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_checkin_code"
    assert not CheckIn.objects.exists()


def test_codes_rotate_each_window_and_differ_per_event():
    a, b = make_event(), make_event()
    now = timezone.now()
    later = now + timedelta(seconds=checkin.window_seconds())
    assert checkin.current_code(a, now)["code"] != checkin.current_code(a, later)["code"]
    assert checkin.current_code(a, now)["code"] != checkin.current_code(b, now)["code"]


@override_settings(CHECKIN_CODE_WINDOW_SECONDS=5)
def test_code_valid_until_is_end_of_window():
    event = make_event()
    valid_until = checkin.current_code(event)["valid_until"]
    assert 0 < (valid_until - timezone.now()).total_seconds() <= 5


# --- Screen keys -----------------------------------------------------------------


def test_staff_issues_screen_key_shown_once(staff_api):
    event = make_event()
    response = staff_api.post(f"/api/events/{event.pk}/screen-keys/", {"label": "Main hall"})
    assert response.status_code == 201
    key = response.json()["key"]
    row = ScreenKey.objects.get()
    assert row.key_hash != key and len(row.key_hash) == 64
    listed = staff_api.get(f"/api/events/{event.pk}/screen-keys/").json()["results"]
    assert listed[0]["label"] == "Main hall" and "key" not in listed[0]
    assert stream_kind("event").screen_key_valid(event.pk, key)


def test_screen_key_is_valid_only_for_its_event_until_revoked(staff_api):
    event, other = make_event(), make_event()
    body = staff_api.post(f"/api/events/{event.pk}/screen-keys/", {}).json()
    valid = stream_kind("event").screen_key_valid
    assert not valid(other.pk, body["key"])
    assert not valid(event.pk, "guess")
    revoke = staff_api.post(f"/api/events/{event.pk}/screen-keys/{body['id']}/revoke/")
    assert revoke.status_code == 200 and revoke.json()["revoked_at"]
    assert not valid(event.pk, body["key"])


def test_non_staff_cannot_issue_screen_keys(user_api, api):
    event = make_event()
    assert user_api.post(f"/api/events/{event.pk}/screen-keys/", {}).status_code == 403
    assert api.post(f"/api/events/{event.pk}/screen-keys/", {}).status_code == 401
    assert not ScreenKey.objects.exists()


def test_event_snapshot_has_code_for_screens_only(user):
    event = make_event(checkin_code_required=True)
    kind = stream_kind("event")
    assert "checkin" not in kind.snapshot(event.pk, Viewer(user=user))
    screen = kind.snapshot(event.pk, Viewer(user=user, screen=True))
    assert screen["checkin"]["code"] == checkin.current_code(event)["code"]
