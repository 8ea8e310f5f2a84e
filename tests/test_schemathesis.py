"""schemathesis over our own OpenAPI schema, in-process against the WSGI app.

Every operation, authenticated as a user and as staff, with a bounded number
of generated requests each: no response may be a 5xx, and a response whose
status the schema documents must match the documented body. Undocumented
4xx statuses are not failures here: the error shape is checked by the
authorization matrix and each area's tests.
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.conftest import client_for
from tests.factories import make_draw, make_event

pytestmark = pytest.mark.django_db

schema = schemathesis.openapi.from_dict(SchemaGenerator().get_schema(request=None, public=True))
schema.app = WSGIHandler()

CHECKS = [not_a_server_error, response_schema_conformance]
# A bounded, reproducible run by default; SCHEMATHESIS_EXAMPLES=200 hunts with fresh
# random examples (what found the bugs fixed in tests/test_bad_input.py).
HUNTING = os.environ.get("SCHEMATHESIS_EXAMPLES")
EXAMPLES = int(HUNTING or 8)


@pytest.fixture(autouse=True)
def keep_the_test_connection():
    """The WSGI handler closes the database connection at the end of each request
    (request_finished -> close_old_connections); inside the test's transaction that
    is the test's own connection. Django's test client does the same as this."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture(params=["user", "staff"])
def bearer(request, user, staff):
    """The Authorization header of the role the operation is called as, and a target
    event with a draw for the generated ids to find."""
    make_draw(make_event())
    who = {"user": user, "staff": staff}[request.param]
    return client_for(who)._credentials["HTTP_AUTHORIZATION"]


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=not HUNTING,
          suppress_health_check=list(HealthCheck))
def test_no_server_error_and_documented_bodies(case, bearer):
    case.call_and_validate(headers={"Authorization": bearer}, checks=CHECKS)
