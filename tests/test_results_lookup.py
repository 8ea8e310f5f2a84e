"""Public result lookup by the last 4 digits of a phone: masked, throttled, strict input."""

import pytest
from django.utils import timezone

from core.models import Event
from live.models import Entry
from live.services.performing import draw_perform
from tests.conftest import assert_error
from tests.factories import draw_url, make_draw, make_event

pytestmark = pytest.mark.django_db


@pytest.fixture
def performed(make_user):
    draw = make_draw(prizes=[{"name": "Bicycle", "rank": 1}])
    winner = make_user(first_name="Ivan", last_name="Petrov", phone="+79161231234",
                       phone_verified_at=timezone.now())
    Entry.objects.create(draw=draw, user=winner, position=1)
    draw.entries_count = 1
    draw.save(update_fields=["entries_count"])
    draw_perform(draw=draw, actor=None, source="scheduler")
    return draw


@pytest.fixture
def lookup_rate(rates):
    rates(phone_lookup="2/min")


def lookup(api, draw, last4):
    return api.get(draw_url(draw, "results"), {"phone_last4": last4})


def test_winner_is_found_masked(api, performed):
    response = lookup(api, performed, "1234")
    assert response.status_code == 200
    assert response.json()["results"] == [
        {"winner": "Ivan P.", "phone": "+7******1234", "prize": "Bicycle", "claimed": False}]
    assert "9161231234" not in response.content.decode()


def test_no_winner_with_those_digits_is_an_empty_list(api, performed, make_user):
    make_user(phone="+79160005678")  # a phone that exists but did not win
    response = lookup(api, performed, "5678")
    assert response.status_code == 200
    assert response.json()["count"] == 0 and response.json()["results"] == []


@pytest.mark.parametrize("last4", ["123", "12345", "12a4", "١٢٣٤", "", " 1234"])
def test_anything_but_four_ascii_digits_is_400(api, performed, last4):
    body = assert_error(lookup(api, performed, last4), 400, "invalid")
    assert "phone_last4" in body["fields"]


def test_missing_parameter_is_400(api, performed):
    assert_error(api.get(draw_url(performed, "results")), 400, "invalid")


def test_unknown_draw_or_draw_of_another_event_is_404(api, performed):
    other = make_event()
    assert_error(api.get(f"/api/events/{other.pk}/draws/{performed.pk}/results/",
                         {"phone_last4": "1234"}), 404, "draw_not_found")
    assert lookup(api, type(performed)(pk=999_999, event_id=performed.event_id),
                  "1234").status_code == 404
    assert api.get(f"/api/events/999999/draws/{performed.pk}/results/",
                   {"phone_last4": "1234"}).status_code == 404


def test_draft_event_is_404(api, performed):
    Event.objects.filter(pk=performed.event_id).update(status=Event.Status.DRAFT)
    assert lookup(api, performed, "1234").status_code == 404


def test_lookup_is_throttled_in_our_error_shape(api, performed, lookup_rate):
    assert lookup(api, performed, "1234").status_code == 200
    assert lookup(api, performed, "0000").status_code == 200
    body = assert_error(lookup(api, performed, "1234"), 429, "throttled")
    assert body["retry_after_seconds"] >= 1
