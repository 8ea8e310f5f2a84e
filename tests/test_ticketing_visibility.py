"""Draft events are staff-only in ticketing too; odd query strings are 4xx, not 500."""

from __future__ import annotations

from core.models import Event
from tests.ticketing_helpers import fund, hold, seats

pytest_plugins = ["tests.ticketing_fixtures"]


def test_a_draft_event_seat_map_is_hidden_and_its_seats_cannot_be_held(user_api, user,
                                                                        staff_api, sale):
    Event.objects.filter(pk=sale.pk).update(status=Event.Status.DRAFT)
    fund(user)
    assert user_api.get(f"/api/events/{sale.pk}/seats/").status_code == 404
    assert user_api.get(f"/api/events/{sale.pk}/prices/").status_code == 404
    refused = hold(user_api, sale, seats(sale, "A", "1", 1))
    assert refused.status_code == 404 and refused.json()["code"] == "event_not_found"
    assert staff_api.get(f"/api/events/{sale.pk}/seats/").status_code == 200


def test_non_ascii_huge_and_negative_section_ids_are_400_invalid(user_api, sale):
    for section in ("%C2%B2", "9" * 30, "-1", "x"):
        response = user_api.get(f"/api/events/{sale.pk}/seats/?section={section}")
        assert response.status_code == 400
        body = response.json()
        assert body["code"] == "invalid" and list(body["fields"]) == ["section"]


def test_odd_event_filters_on_tickets_are_400_invalid_not_500(user_api, sale):
    for event in ("%C2%B2", "9" * 30, "0", "x"):
        response = user_api.get(f"/api/tickets/?event={event}")
        assert response.status_code == 400
        assert response.json()["fields"].keys() == {"event"}
    assert user_api.get(f"/api/tickets/?event={'9' * 18}").json()["count"] == 0
