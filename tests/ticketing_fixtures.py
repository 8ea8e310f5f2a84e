"""Fixtures for the ticketing tests, loaded as a plugin by their modules:

    pytest_plugins = ["tests.ticketing_fixtures"]

Every test that uses `sale` runs once per hold backend: "db" always, "redis"
when REDIS_URL is set (skipped with a reason otherwise).
"""

from __future__ import annotations

import pytest

from core.models import Venue
from tests.ticketing_helpers import LAYOUT, make_event
from ticketing.services import layout


@pytest.fixture(params=["db", pytest.param("redis", marks=pytest.mark.redis)])
def backend(request, settings):
    settings.TICKETING_HOLD_BACKEND = request.param
    return request.param


@pytest.fixture
def venue(db):
    venue = Venue.objects.create(name="Arena", address="1 Court Street")
    layout.venue_layout_set(venue=venue, sections=LAYOUT)
    return venue


@pytest.fixture
def sale(backend, venue):
    """An event on sale at `venue`, on the parametrized hold backend."""
    return make_event(venue)
