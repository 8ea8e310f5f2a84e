"""Venues, layouts, prices, sale settings and the seat map."""

from __future__ import annotations

import pytest

from core.models import Event, Venue
from tests.ticketing_helpers import LAYOUT, PRICE_A, PRICE_B, committed, hold, seat, seats
from ticketing.models import Seat, Section, SectionPrice

pytest_plugins = ["tests.ticketing_fixtures"]


def test_staff_create_a_venue(staff_api):
    body = {"name": "Arena", "address": "Main St"}
    response = staff_api.post("/api/venues/", body, format="json")
    assert response.status_code == 201
    assert response.json()["sections"] == []
    assert Venue.objects.get(pk=response.json()["id"]).name == "Arena"


def test_venue_writes_are_staff_only_and_reads_are_public(user_api, api):
    assert user_api.post("/api/venues/", {"name": "X"}, format="json").status_code == 403
    assert api.post("/api/venues/", {"name": "X"}, format="json").status_code == 401
    assert not Venue.objects.exists()
    assert api.get("/api/venues/").status_code == 200


def test_venue_list_is_paginated(staff_api, venue):
    body = staff_api.get("/api/venues").json()
    assert body["count"] == 1 and body["results"][0]["name"] == "Arena"


def test_venue_needs_a_name(staff_api):
    response = staff_api.post("/api/venues/", {"name": ""}, format="json")
    assert response.status_code == 400 and "name" in response.json()["fields"]


def test_layout_in_one_request_with_counts_and_explicit_seats(staff_api):
    venue = Venue.objects.create(name="Gym")
    layout = {
        "sections": [
            {"name": "Floor", "rows": [
                {"label": "A", "seats": 3},
                {"label": "B", "seats": [{"label": "B1", "x": 1.5, "y": 2.0}, "B2",
                                          {"label": "B3", "blocked": True}]},
            ]},
        ]
    }
    response = staff_api.post(f"/api/venues/{venue.pk}/layout/", layout, format="json")
    assert response.status_code == 200, response.json()
    rows = response.json()["sections"][0]["rows"]
    assert [s["label"] for s in rows[0]["seats"]] == ["1", "2", "3"]
    assert [(s["label"], s["number"], s["x"], s["blocked"]) for s in rows[1]["seats"]] == [
        ("B1", 1, 1.5, False), ("B2", 2, None, False), ("B3", 3, None, True),
    ]
    assert Seat.objects.filter(row__section__venue=venue).count() == 6


@pytest.mark.parametrize(
    "sections",
    [
        [],
        [{"name": "A", "rows": []}],
        [{"name": "A", "rows": [{"label": "1", "seats": 0}]}],
        [{"name": "A", "rows": [{"label": "1", "seats": 501}]}],
        [{"name": "A", "rows": [{"label": "1", "seats": ["x", "x"]}]}],
        [{"name": "A", "rows": [{"label": "1", "seats": 2}, {"label": "1", "seats": 2}]}],
        [{"name": "A", "rows": [{"label": "1", "seats": 2}]},
         {"name": "A", "rows": [{"label": "2", "seats": 2}]}],
        [{"name": "A", "rows": [{"label": "1", "seats": "ten"}]}],
    ],
)
def test_layout_rejects_malformed_input(staff_api, venue, sections):
    before = Seat.objects.count()
    response = staff_api.post(f"/api/venues/{venue.pk}/layout/", {"sections": sections},
                              format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert Seat.objects.count() == before


def test_layout_of_unknown_venue_is_404(staff_api):
    response = staff_api.post("/api/venues/9999/layout/", {"sections": LAYOUT}, format="json")
    assert response.status_code == 404


def test_changing_a_layout_keeps_existing_seat_ids(staff_api, venue):
    kept = seat(venue, "A", "1", 1)
    bigger = [{**LAYOUT[0], "rows": [{"label": "1", "seats": 12}]}, LAYOUT[1]]
    response = staff_api.post(f"/api/venues/{venue.pk}/layout/", {"sections": bigger},
                              format="json")
    assert response.status_code == 200
    assert seat(venue, "A", "1", 1) == kept
    assert not Seat.objects.filter(row__section__venue=venue, row__label="3").exists()
    assert Seat.objects.filter(row__section__venue=venue).count() == 12 + 12


def test_changing_a_layout_refuses_to_remove_a_sold_seat(staff_api, user, sale):
    from tests.ticketing_helpers import fund
    from ticketing.services.holds import hold_create
    from ticketing.services.orders import hold_purchase

    fund(user)
    sold = seat(sale, "B", "2", 6)
    hold_purchase(token=hold_create(event=sale, user=user, seat_ids=[sold]).token, user=user)
    smaller = [LAYOUT[0], {"name": "B", "rows": [{"label": "1", "seats": 6}]}]
    response = staff_api.post(f"/api/venues/{sale.venue_id}/layout/", {"sections": smaller},
                              format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "layout_removes_sold_seat"
    assert response.json()["seats"] == [sold]
    assert Seat.objects.filter(pk=sold).exists()


def test_staff_set_prices_and_everyone_reads_them(staff_api, user_api, sale):
    a = Section.objects.get(venue=sale.venue, name="A")
    response = staff_api.put(f"/api/events/{sale.pk}/prices/",
                             {"prices": [{"section_id": a.pk, "amount": 7_500}]}, format="json")
    assert response.status_code == 200
    assert response.json()["prices"] == [{"section_id": a.pk, "section": "A", "amount": 7_500}]
    assert user_api.get(f"/api/events/{sale.pk}/prices").json() == response.json()
    # B lost its price: not for sale any more.
    assert not SectionPrice.objects.filter(event=sale, section__name="B").exists()


def test_prices_are_staff_write(user_api, sale):
    response = user_api.put(f"/api/events/{sale.pk}/prices/", {"prices": []}, format="json")
    assert response.status_code == 403


@pytest.mark.parametrize(
    "price",
    [{"amount": 12.5}, {"amount": -1}, {"amount": "12.50"}, {"section_id": 999999, "amount": 1}],
)
def test_prices_reject_bad_input(staff_api, sale, price):
    a = Section.objects.get(venue=sale.venue, name="A")
    response = staff_api.put(f"/api/events/{sale.pk}/prices/",
                             {"prices": [{"section_id": a.pk, **price}]}, format="json")
    assert response.status_code == 400
    assert SectionPrice.objects.get(event=sale, section=a).amount == PRICE_A


def test_prices_need_an_event_with_a_venue(staff_api):
    from django.utils import timezone

    event = Event.objects.create(title="Online", starts_at=timezone.now())
    response = staff_api.put(f"/api/events/{event.pk}/prices/", {"prices": []}, format="json")
    assert response.status_code == 409 and response.json()["code"] == "event_has_no_venue"


def test_staff_configure_the_sale(staff_api, user_api, sale):
    body = {"sale_starts_at": "2030-01-01T10:00:00Z", "sale_ends_at": "2030-01-02T10:00:00Z",
            "max_seats_per_order": 4}
    response = staff_api.put(f"/api/events/{sale.pk}/sale/", body, format="json")
    assert response.status_code == 200
    assert response.json()["max_seats_per_order"] == 4
    assert user_api.get(f"/api/events/{sale.pk}/sale/").json() == response.json()
    assert user_api.put(f"/api/events/{sale.pk}/sale/", body, format="json").status_code == 403


def test_sale_window_must_be_ordered(staff_api, sale):
    body = {"sale_starts_at": "2030-01-02T10:00:00Z", "sale_ends_at": "2030-01-01T10:00:00Z"}
    response = staff_api.put(f"/api/events/{sale.pk}/sale/", body, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_sale_window"


def test_seat_map_shows_every_seat_with_status_and_price(user_api, other_api, sale):
    held = seat(sale, "A", "1", 1)
    committed(hold, other_api, sale, [held])
    response = user_api.get(f"/api/events/{sale.pk}/seats/")
    assert response.status_code == 200
    body = response.json()
    assert len(body["seats"]) == 30 + 12
    by_id = {s["id"]: s for s in body["seats"]}
    assert by_id[held]["status"] == "held" and by_id[held]["price"] == PRICE_A
    free_b = by_id[seat(sale, "B", "2", 3)]
    assert (free_b["status"], free_b["price"], free_b["section"], free_b["row"]) == (
        "free", PRICE_B, "B", "2")
    assert body["seq"] == 1


def test_seat_map_filters_by_section(user_api, sale):
    b = Section.objects.get(venue=sale.venue, name="B")
    body = user_api.get(f"/api/events/{sale.pk}/seats/?section={b.pk}").json()
    assert {s["section"] for s in body["seats"]} == {"B"} and len(body["seats"]) == 12
    refused = user_api.get(f"/api/events/{sale.pk}/seats/?section=x")
    assert refused.status_code == 400 and refused.json()["fields"]["section"]


def test_seat_map_of_unknown_event_is_404(user_api, db):
    assert user_api.get("/api/events/424242/seats/").status_code == 404


def test_ticket_holders_are_users_with_a_valid_ticket(user, other_user, make_user, sale):
    from tests.ticketing_helpers import fund
    from ticketing.selectors import ticket_holders
    from ticketing.services.holds import hold_create
    from ticketing.services.orders import hold_purchase, ticket_cancel

    refunded = make_user()
    for buyer, labels in ((user, (1, 2)), (other_user, (3,)), (refunded, (4,))):
        fund(buyer)
        held = hold_create(event=sale, user=buyer, seat_ids=seats(sale, "A", "1", *labels))
        hold_purchase(token=held.token, user=buyer)
    ticket_cancel(ticket_id=refunded.tickets.get().pk, user=refunded)
    assert list(ticket_holders(sale).order_by("pk")) == [user, other_user]


def test_seat_map_costs_the_same_queries_for_more_seats(user_api, staff_api, sale,
                                                        django_assert_max_num_queries):
    # Auth, event, seats, prices, sold seats, held seats (database backend).
    # With Redis the first read of an event's map after Redis lost it (here: never
    # had it) also restores it from the database, once; that is not per seat.
    assert user_api.get(f"/api/events/{sale.pk}/seats/").status_code == 200
    with django_assert_max_num_queries(6):
        assert len(user_api.get(f"/api/events/{sale.pk}/seats/").json()["seats"]) == 42
    bigger = [{**LAYOUT[0], "rows": [{"label": str(r), "seats": 40} for r in range(1, 11)]},
              LAYOUT[1]]
    staff_api.post(f"/api/venues/{sale.venue_id}/layout/", {"sections": bigger}, format="json")
    with django_assert_max_num_queries(6):
        assert len(user_api.get(f"/api/events/{sale.pk}/seats/").json()["seats"]) == 412
