"""Regressions for 5xx responses schemathesis found (tests/test_schemathesis.py):
each is bad input that must be a 4xx in the project's error shape."""

from __future__ import annotations

import pytest

from tests.conftest import assert_error

pytestmark = pytest.mark.django_db

HUGE = "9" * 25  # larger than any BigAutoField id


@pytest.mark.parametrize("path", [
    f"/api/events/{HUGE}/",
    f"/api/events/1/draws/{HUGE}/",
    f"/api/events/{HUGE}/webhooks/1/",
    f"/api/orders/{HUGE}/",
])
def test_an_id_larger_than_any_row_is_404_not_500(staff_api, path):
    assert_error(staff_api.get(path), 404, "not_found")


def test_patching_a_draw_with_an_incomplete_prize_is_400(staff_api):
    from live.models import Prize
    from tests.factories import draw_url, make_draw

    draw = make_draw()
    response = staff_api.patch(draw_url(draw), {"prizes": [{}]}, format="json")
    body = assert_error(response, 400, "invalid")
    assert "prizes" in body["fields"]
    assert list(Prize.objects.filter(draw=draw).values_list("name", flat=True)) == ["Bicycle"]


def test_patching_a_draw_fills_the_prize_defaults(staff_api):
    from live.models import Prize
    from tests.factories import draw_url, make_draw

    draw = make_draw()
    response = staff_api.patch(draw_url(draw), {"prizes": [{"name": "TV", "rank": 1}]},
                               format="json")
    assert response.status_code == 200, response.content
    assert list(Prize.objects.filter(draw=draw).values_list("name", "quantity")) == [("TV", 1)]
