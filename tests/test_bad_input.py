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
