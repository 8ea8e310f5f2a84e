"""A hold obeys the sale it was made in (issue 14), on both hold backends.

Extending or buying a hold after its sale closed (the sale window ended, the event
started, went back to draft or ended) answers 409 sale_closed and frees the seats at
once; a total that changed since the hold is charged only when the buyer confirms it.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from core import streams
from core.models import Event
from tests.ticketing_helpers import PRICE_A, PRICE_B, committed, fund, hold, seats, statuses
from ticketing.models import EventSale, Order, SeatHold, Ticket, Wallet
from ticketing.services import layout

pytest_plugins = ["tests.ticketing_fixtures"]


def purchase(client, token, body=None, key=None):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return client.post(f"/api/holds/{token}/purchase/", body, format="json", **headers)


def held(client, event, seat_ids) -> str:
    response = hold(client, event, seat_ids)
    assert response.status_code == 201, response.json()
    return response.json()["token"]


def close_sale(event: Event, how: str) -> None:
    past = timezone.now() - timedelta(minutes=1)
    if how == "sale-window-ended":
        EventSale.objects.filter(event=event).update(sale_ends_at=past)
    elif how == "event-started":
        Event.objects.filter(pk=event.pk).update(starts_at=past)
    elif how == "back-to-draft":
        Event.objects.filter(pk=event.pk).update(status=Event.Status.DRAFT)
    elif how == "event-ended":
        Event.objects.filter(pk=event.pk).update(status=Event.Status.ENDED)
    else:
        raise AssertionError(how)


CLOSINGS = ["sale-window-ended", "event-started", "back-to-draft", "event-ended"]


def released_messages(event) -> list:
    return [(m["type"], m["data"]["seats"])
            for m in streams.history_since(f"seats:{event.pk}", 0).messages
            if m["type"] == "seat.released"]


@pytest.mark.parametrize("how", CLOSINGS)
def test_extending_a_hold_after_its_sale_closed_is_409_and_frees_the_seats(
        user_api, other_api, sale, how):
    wanted = seats(sale, "A", "1", 1, 2)
    token = held(user_api, sale, wanted)
    close_sale(sale, how)
    response = committed(user_api.patch, f"/api/holds/{token}/")
    assert response.status_code == 409, response.json()
    assert response.json()["code"] == "sale_closed"
    assert SeatHold.objects.get(token=token).status == "released"
    assert {statuses(sale)[s] for s in wanted} == {"free"}
    assert released_messages(sale) == [("seat.released", wanted)]
    # Released for good: the owner's next try finds nothing to extend.
    assert user_api.patch(f"/api/holds/{token}/").status_code == 410


@pytest.mark.parametrize("how", CLOSINGS)
def test_buying_a_hold_after_its_sale_closed_is_409_charges_nothing_and_frees_the_seats(
        user_api, user, sale, how):
    fund(user, 50_000)
    wanted = seats(sale, "B", "1", 1, 2)
    token = held(user_api, sale, wanted)
    close_sale(sale, how)
    response = committed(purchase, user_api, token, key="after-close")
    assert response.status_code == 409, response.json()
    assert response.json()["code"] == "sale_closed"
    assert Wallet.objects.get(user=user).balance == 50_000
    assert not Order.objects.exists() and not Ticket.objects.exists()
    assert SeatHold.objects.get(token=token).status == "released"
    assert {statuses(sale)[s] for s in wanted} == {"free"}
    assert released_messages(sale) == [("seat.released", wanted)]


def test_a_hold_still_in_its_sale_extends_and_buys_as_before(user_api, user, sale):
    fund(user)
    token = held(user_api, sale, seats(sale, "A", "2", 1))
    assert user_api.patch(f"/api/holds/{token}/").status_code == 200
    assert committed(purchase, user_api, token).status_code == 201


def test_the_hold_shows_the_total_it_was_made_at(user_api, sale):
    response = hold(user_api, sale, seats(sale, "A", "1", 1) + seats(sale, "B", "1", 1))
    assert response.json()["total"] == PRICE_A + PRICE_B
    assert SeatHold.objects.get().total == PRICE_A + PRICE_B


def _reprice(event, a: int) -> None:
    sections = {s.name: s.pk for s in event.venue.sections.all()}
    layout.event_prices_set(event=event, prices={sections["A"]: a, sections["B"]: PRICE_B})


@pytest.mark.parametrize("new_price", [PRICE_A + 500, PRICE_A - 500], ids=["up", "down"])
def test_a_price_changed_since_the_hold_is_not_charged_silently(user_api, user, sale,
                                                                new_price):
    fund(user, 50_000)
    wanted = seats(sale, "A", "3", 1, 2)
    token = held(user_api, sale, wanted)
    _reprice(sale, new_price)
    response = purchase(user_api, token)
    assert response.status_code == 409, response.json()
    body = response.json()
    assert body["code"] == "price_changed"
    assert (body["old_total"], body["new_total"]) == (2 * PRICE_A, 2 * new_price)
    assert Wallet.objects.get(user=user).balance == 50_000
    assert not Order.objects.exists()
    # Nothing else changed: the seats stay held for the buyer to decide.
    assert SeatHold.objects.get(token=token).status == "active"
    assert {statuses(sale)[s] for s in wanted} == {"held"}


def test_the_buyer_accepts_a_new_price_with_expected_total(user_api, user, sale):
    fund(user, 50_000)
    token = held(user_api, sale, seats(sale, "A", "3", 3))
    _reprice(sale, PRICE_A + 700)
    new_total = purchase(user_api, token).json()["new_total"]
    response = committed(purchase, user_api, token, {"expected_total": new_total})
    assert response.status_code == 201, response.json()
    assert response.json()["total"] == PRICE_A + 700
    assert Wallet.objects.get(user=user).balance == 50_000 - (PRICE_A + 700)


def test_an_expected_total_that_is_not_the_price_is_refused(user_api, user, sale):
    fund(user, 50_000)
    token = held(user_api, sale, seats(sale, "A", "3", 4))
    response = purchase(user_api, token, {"expected_total": PRICE_A - 1})
    assert response.status_code == 409
    assert (response.json()["old_total"], response.json()["new_total"]) == (PRICE_A - 1,
                                                                            PRICE_A)
    assert not Order.objects.exists()
    assert purchase(user_api, token, {"expected_total": "12.5"}).status_code == 400
    assert committed(purchase, user_api, token, {"expected_total": PRICE_A}).status_code == 201


def test_a_hold_made_before_totals_were_kept_buys_at_todays_prices(user_api, user, sale):
    fund(user, 50_000)
    token = held(user_api, sale, seats(sale, "B", "2", 1))
    SeatHold.objects.filter(token=token).update(total=None)
    _reprice(sale, PRICE_A)  # unchanged for B
    response = committed(purchase, user_api, token)
    assert response.status_code == 201 and response.json()["total"] == PRICE_B
