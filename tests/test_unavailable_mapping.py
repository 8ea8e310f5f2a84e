"""One mapping of "backing service down" for REST (503) and WebSocket (close 4503)."""

import pytest
import redis
from django.db import IntegrityError, OperationalError

from consumers.protocol import CLOSE_TRY_AGAIN_LATER, unavailable_error
from core.errors import backing_service_down, unavailable_body


@pytest.mark.parametrize(("exc", "code"), [
    (OperationalError("connection refused"), "database_unavailable"),
    (redis.ConnectionError("connection refused"), "redis_unavailable"),
    (redis.TimeoutError("timed out"), "redis_unavailable"),
])
def test_an_outage_has_the_same_code_over_rest_and_websocket(exc, code):
    assert backing_service_down(exc) == code
    assert unavailable_body(exc)["code"] == code
    frame = unavailable_error(exc)
    assert frame.code == code and frame.close_code == CLOSE_TRY_AGAIN_LATER


@pytest.mark.parametrize("exc", [IntegrityError("duplicate key"), redis.ResponseError("WRONGTYPE"),
                                 ValueError("bug"), None])
def test_anything_else_is_not_an_outage_on_either_transport(exc):
    assert backing_service_down(exc) is None and unavailable_body(exc) is None
    if exc is not None:
        assert unavailable_error(exc) is None
