"""One venue, one event on sale at a time (issue 14): a second event on sale at a venue
at an overlapping time would sell its own copy of the same seats. Refused through the
API and the admin, naming the other event
(docs/decisions/2026-11-30-one-event-per-venue-at-a-time.md)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.models import Event, Venue
from tests.test_live_admin import _FormFields
from tests.ticketing_helpers import LAYOUT
from ticketing.models import EventSale
from ticketing.services import layout

pytestmark = pytest.mark.django_db


@pytest.fixture
def arena():
    venue = Venue.objects.create(name="Arena")
    layout.venue_layout_set(venue=venue, sections=LAYOUT)
    return venue


@pytest.fixture
def concert(arena):
    """On sale at the arena, 20:00-23:00 in ten days."""
    from django.utils import timezone

    start = (timezone.now() + timedelta(days=10)).replace(hour=20, minute=0, second=0,
                                                          microsecond=0)
    event = Event.objects.create(title="Concert", starts_at=start,
                                 ends_at=start + timedelta(hours=3), venue=arena,
                                 status="published")
    layout.sale_configure(event=event)
    return event


def another(venue, starts_at, *, ends_at=None, status="published", title="Comedy night"):
    return Event.objects.create(title=title, starts_at=starts_at, ends_at=ends_at,
                                venue=venue, status=status)


def put_sale(client, event, **body):
    return client.put(f"/api/events/{event.pk}/sale/",
                      {"max_seats_per_order": 4, **body}, format="json")


@pytest.mark.parametrize("offset, ends_after", [
    (timedelta(hours=1), None),                        # inside the concert
    (timedelta(hours=-2), timedelta(hours=3)),         # starts before, ends inside
    (timedelta(hours=-3), None),                       # no end: the default 4 h reach in
    (timedelta(hours=-1), timedelta(hours=8)),         # around it
])
def test_a_second_event_on_sale_overlapping_at_the_venue_is_refused(staff_api, arena, concert,
                                                                    offset, ends_after):
    start = concert.starts_at + offset
    other = another(arena, start, ends_at=ends_after and start + ends_after)
    response = put_sale(staff_api, other)
    assert response.status_code == 409, response.json()
    body = response.json()
    assert body["code"] == "venue_double_booked"
    assert body["event"]["id"] == concert.pk and body["event"]["title"] == "Concert"
    assert "Concert" in body["detail"]
    assert not EventSale.objects.filter(event=other).exists()


@pytest.mark.parametrize("offset", [timedelta(hours=3), timedelta(hours=-4)],
                         ids=["right-after", "ended-just-before"])
def test_back_to_back_events_may_both_sell(staff_api, arena, concert, offset):
    other = another(arena, concert.starts_at + offset)  # no end: 4 h by default
    assert put_sale(staff_api, other).status_code == 200
    assert EventSale.objects.filter(event=other).exists()


def test_the_default_duration_is_a_setting(staff_api, arena, concert, settings):
    settings.TICKETING_EVENT_DEFAULT_DURATION_MINUTES = 60
    other = another(arena, concert.starts_at - timedelta(hours=2))
    assert put_sale(staff_api, other).status_code == 200


def test_events_elsewhere_not_on_sale_or_ended_do_not_block(staff_api, arena, concert):
    elsewhere = another(Venue.objects.create(name="Gym"), concert.starts_at)
    assert put_sale(staff_api, elsewhere).status_code == 200
    Event.objects.filter(pk=concert.pk).update(status="ended")
    same_time = another(arena, concert.starts_at)
    assert put_sale(staff_api, same_time).status_code == 200
    # An event without a sale never blocks another.
    bare = another(arena, concert.starts_at + timedelta(days=1), title="Bare")
    twin = another(arena, bare.starts_at, title="Twin")
    assert put_sale(staff_api, twin).status_code == 200


def test_a_draft_with_a_sale_blocks_the_venue(staff_api, arena, concert):
    Event.objects.filter(pk=concert.pk).update(status="draft")
    other = another(arena, concert.starts_at)
    assert put_sale(staff_api, other).json()["code"] == "venue_double_booked"


def test_the_event_on_sale_may_change_its_own_sale(staff_api, concert):
    assert put_sale(staff_api, concert, max_seats_per_order=2).status_code == 200
    assert EventSale.objects.get(event=concert).max_seats_per_order == 2


# --- the admin's event page ----------------------------------------------------------


@pytest.fixture
def browser(superuser_browser):
    return superuser_browser


def _event_form(client, event) -> dict[str, str]:
    page = client.get(f"/admin/core/event/{event.pk}/change/")
    assert page.status_code == 200
    parser = _FormFields()
    parser.feed(page.content.decode())
    return {k: v for k, v in parser.data.items()
            if not k.startswith("_") and "__prefix__" not in k}


def _with_sale(form, event) -> dict[str, str]:
    return {**form, "sale-TOTAL_FORMS": "1", "sale-INITIAL_FORMS": "0",
            "sale-0-id": "", "sale-0-event": str(event.pk), "sale-0-max_seats_per_order": "4",
            "sale-0-sale_starts_at_0": "", "sale-0-sale_starts_at_1": "",
            "sale-0-sale_ends_at_0": "", "sale-0-sale_ends_at_1": ""}


def test_the_admin_event_page_has_the_sale_and_prices(browser, concert):
    page = browser.get(f"/admin/core/event/{concert.pk}/change/").content.decode()
    assert 'name="sale-TOTAL_FORMS"' in page and 'name="section_prices-TOTAL_FORMS"' in page


def test_the_admin_refuses_a_sale_that_double_books_the_venue(browser, arena, concert):
    other = another(arena, concert.starts_at + timedelta(hours=1))
    response = browser.post(f"/admin/core/event/{other.pk}/change/",
                            _with_sale(_event_form(browser, other), other))
    assert response.status_code == 200  # the form again, with the error
    assert "is on sale at this venue at an overlapping time" in response.content.decode()
    assert not EventSale.objects.filter(event=other).exists()


def test_the_admin_puts_a_non_overlapping_event_on_sale(browser, arena, concert):
    other = another(arena, concert.starts_at + timedelta(days=1))
    response = browser.post(f"/admin/core/event/{other.pk}/change/",
                            _with_sale(_event_form(browser, other), other))
    assert response.status_code == 302, response.content.decode()[:3000]
    assert EventSale.objects.get(event=other).max_seats_per_order == 4
