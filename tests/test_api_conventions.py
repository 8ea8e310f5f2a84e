"""API conventions of issue 15: strict filters on every list, CORS, JSON errors under
/api/, offline docs, request ids and the access log, on both middleware chains."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys

import pytest
from channels.testing import HttpCommunicator, WebsocketCommunicator
from django.conf import settings as django_settings
from django.contrib.staticfiles import finders

from core.requestlog import JsonFormatter, RequestIdFilter
from live.models import Draw
from routing import application
from tests.conftest import assert_error, client_for
from tests.factories import make_draw
from tests.factories import make_event as make_plain_event
from tests.ticketing_helpers import committed, fund, hold, seats

pytest_plugins = ["tests.ticketing_fixtures"]

APP_ORIGIN = "https://app.example.com"


# --- filters, ordering, search ---------------------------------------------------------


@pytest.mark.django_db
def test_an_unknown_filter_is_a_400_not_everything(user_api):
    body = assert_error(user_api.get("/api/orders/?stauts=paid"), 400, "unknown_parameter")
    assert "stauts" in body["fields"] and "status" in body["known"]
    assert_error(user_api.get("/api/events/?colour=red"), 400, "unknown_parameter")
    assert_error(user_api.get("/api/accounts/me/entries/?x=1"), 400, "unknown_parameter")
    # Paging and DRF's format switch are always allowed.
    assert user_api.get("/api/orders/?page=1&page_size=5&format=json").status_code == 200


@pytest.mark.django_db
def test_an_unknown_ordering_field_is_a_400(api):
    body = assert_error(api.get("/api/events/?ordering=secret"), 400, "invalid")
    assert "ordering" in body["fields"]


@pytest.mark.django_db
def test_a_bad_filter_value_is_a_400(api, user_api):
    assert_error(api.get("/api/events/?upcoming=maybe"), 400, "invalid")
    assert_error(api.get("/api/events/?venue=" + "9" * 30), 400, "invalid")
    assert_error(user_api.get("/api/wallet/transactions/?kind=gift"), 400, "invalid")
    body = assert_error(api.get("/api/events/?from_date=2030-05-03&to_date=2030-05-01"),
                        400, "invalid")
    assert "to_date" in body["fields"]


@pytest.mark.django_db
def test_events_filter_by_venue_search_and_order(api, venue):
    here = make_plain_event(title="Cup final", venue=venue)
    make_plain_event(title="Book fair")

    def titles(query):
        return [e["title"] for e in api.get(f"/api/events/?{query}").json()["results"]]

    assert titles(f"venue={venue.pk}") == ["Cup final"]
    assert titles("search=BOOK") == ["Book fair"]
    assert titles("ordering=title") == ["Book fair", "Cup final"]
    assert titles("ordering=-title") == ["Cup final", "Book fair"]
    assert here.pk


@pytest.mark.django_db
def test_draws_filter_by_status_and_kind(api):
    event = make_plain_event()
    make_draw(event, title="Raffle")
    make_draw(event, kind="lottery", title="Lotto")
    url = f"/api/events/{event.pk}/draws/"
    assert [d["title"] for d in api.get(url + "?kind=lottery").json()["results"]] == ["Lotto"]
    Draw.objects.filter(title="Raffle").update(status="closed")
    assert [d["title"] for d in api.get(url + "?status=closed").json()["results"]] == ["Raffle"]
    assert [d["title"] for d in api.get(url + "?search=lot").json()["results"]] == ["Lotto"]


@pytest.mark.django_db
def test_orders_tickets_and_transactions_filter(user, sale, venue):
    fund(user)
    api = client_for(user)
    token = committed(hold, api, sale, seats(sale, "A", "1", 1)).json()["token"]
    order = committed(api.post, f"/api/holds/{token}/purchase/").json()
    assert api.get(f"/api/orders/?status=paid&event={sale.pk}").json()["count"] == 1
    assert api.get("/api/orders/?status=refunded").json()["count"] == 0
    assert api.get(f"/api/tickets/?event={sale.pk}").json()["count"] == 1
    assert api.get(f"/api/tickets/?event={sale.pk + 1}").json()["count"] == 0
    kinds = api.get("/api/wallet/transactions/?kind=purchase").json()["results"]
    assert [t["reference"] for t in kinds] == [f"order:{order['id']}"]
    by_amount = api.get("/api/wallet/transactions/?ordering=amount").json()["results"]
    assert [t["kind"] for t in by_amount] == ["purchase", "top_up"]


# --- every /api/ answer is JSON ----------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("debug", [False, True])
def test_framework_errors_under_api_are_json(api, settings, debug):
    settings.DEBUG = debug
    assert_error(api.get("/api/no-such-thing/"), 404, "not_found")
    assert_error(api.delete("/api/stats/"), 405, "method_not_allowed")
    assert_error(api.post("/api/schema/"), 405, "method_not_allowed")
    if not debug:  # with DEBUG on a browser gets DRF's browsable page
        assert_error(api.get("/api/stats/", HTTP_ACCEPT="text/html"), 406, "not_acceptable")


@pytest.mark.django_db(transaction=True)
async def test_framework_errors_are_json_on_the_bearer_chain_too(user):
    from asgiref.sync import sync_to_async

    from core.authentication import SessionRefreshToken

    token = await sync_to_async(lambda: str(SessionRefreshToken.for_user(user).access_token))()
    bearer = (b"authorization", f"Bearer {token}".encode())
    for method, path, status in (("GET", "/api/no-such-thing/", 404),
                                 ("DELETE", "/api/wallet/", 405)):
        response = await HttpCommunicator(application, method, path,
                                          headers=[bearer]).get_response()
        assert response["status"] == status
        assert dict(response["headers"])[b"content-type"] == b"application/json"
        assert json.loads(response["body"])["code"] in ("not_found", "method_not_allowed")


# --- CORS ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_preflight_from_an_allowed_origin_is_answered(api, settings):
    settings.CORS_ALLOWED_ORIGINS = [APP_ORIGIN]
    response = api.options("/api/holds/abc/purchase/", HTTP_ORIGIN=APP_ORIGIN,
                           HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
                           HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization, idempotency-key")
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == APP_ORIGIN
    allowed = response["Access-Control-Allow-Headers"].lower()
    assert "authorization" in allowed and "idempotency-key" in allowed


@pytest.mark.django_db
def test_other_origins_get_no_cors_headers_and_none_by_default(api, settings):
    refused = api.options("/api/events/", HTTP_ORIGIN="https://evil.example",
                          HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET")
    assert "Access-Control-Allow-Origin" not in refused
    settings.CORS_ALLOWED_ORIGINS = [APP_ORIGIN]
    refused = api.get("/api/events/", HTTP_ORIGIN="https://evil.example")
    assert "Access-Control-Allow-Origin" not in refused
    assert django_settings.CORS_ALLOW_CREDENTIALS is False


@pytest.mark.django_db(transaction=True)
async def test_the_bearer_request_after_the_preflight_gets_cors_headers(user, settings):
    """The preflight has no token (browser chain); the real request has one (token chain)."""
    from asgiref.sync import sync_to_async

    from core.authentication import SessionRefreshToken

    settings.CORS_ALLOWED_ORIGINS = [APP_ORIGIN]
    origin = (b"origin", APP_ORIGIN.encode())
    preflight = await HttpCommunicator(application, "OPTIONS", "/api/wallet/", headers=[
        origin, (b"access-control-request-method", b"GET"),
        (b"access-control-request-headers", b"authorization")]).get_response()
    assert dict(preflight["headers"])[b"access-control-allow-origin"] == APP_ORIGIN.encode()
    token = await sync_to_async(lambda: str(SessionRefreshToken.for_user(user).access_token))()
    response = await HttpCommunicator(application, "GET", "/api/wallet/", headers=[
        origin, (b"authorization", f"Bearer {token}".encode())]).get_response()
    headers = dict(response["headers"])
    assert response["status"] == 200
    assert headers[b"access-control-allow-origin"] == APP_ORIGIN.encode()
    assert b"x-request-id" in headers[b"access-control-expose-headers"].lower()


def test_websockets_accept_the_cors_origins(settings):
    from consumers.middleware import allowed_origins

    settings.WEBSOCKET_ALLOWED_ORIGINS = []
    settings.CORS_ALLOWED_ORIGINS = [APP_ORIGIN]
    assert APP_ORIGIN in allowed_origins()
    settings.WEBSOCKET_ALLOWED_ORIGINS = ["https://screens.example.com"]
    assert allowed_origins() == ["https://screens.example.com"]


# --- offline docs ------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/docs/", "/api/redoc/"])
def test_api_docs_load_their_scripts_from_our_static_files(api, path):
    response = api.get(path)
    assert response.status_code == 200
    page = response.content.decode()
    assert "cdn." not in page and "jsdelivr" not in page and "unpkg" not in page
    assert "/static/drf_spectacular_sidecar/" in page
    for asset in ("swagger-ui-dist/swagger-ui-bundle.js", "redoc/bundles/redoc.standalone.js"):
        assert finders.find(f"drf_spectacular_sidecar/{asset}"), asset


# --- request ids and the access log ------------------------------------------------------


@pytest.fixture
def log_lines():
    """Every log record as the console handler formats it with LOG_FORMAT=json."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    old_level = root.level
    root.setLevel(logging.INFO)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


@pytest.mark.django_db
def test_every_answer_carries_a_request_id_and_a_sane_one_is_honoured(api):
    generated = api.get("/healthz")["X-Request-ID"]
    assert len(generated) == 32
    assert api.get("/api/stats/", HTTP_X_REQUEST_ID="lb-1234.abc")["X-Request-ID"] == (
        "lb-1234.abc")
    insane = api.get("/api/stats/", HTTP_X_REQUEST_ID="x" * 500 + "\n")["X-Request-ID"]
    assert len(insane) == 32


@pytest.mark.django_db
def test_a_4xx_is_logged_once_with_its_request_id(api, log_lines):
    api.get("/api/no-such-thing/", HTTP_X_REQUEST_ID="req-404")
    mine = [line for line in log_lines() if line["request_id"] == "req-404"]
    assert [(line["logger"], line["level"], line["status"]) for line in mine] == [
        ("tombola.access", "WARNING", 404)]
    assert "/api/no-such-thing/" in mine[0]["message"]


@pytest.mark.django_db
def test_lines_logged_inside_a_request_carry_its_id(user_api, sale, log_lines):
    committed(hold, user_api, sale, seats(sale, "A", "1", 1))
    response = user_api.get("/api/accounts/me/holds/", HTTP_X_REQUEST_ID="req-holds")
    assert response.status_code == 200
    assert {line["request_id"] for line in log_lines()} >= {"req-holds"}
    logging.getLogger("core.test").info("outside any request")
    assert log_lines()[-1]["request_id"] == "-"


@pytest.mark.django_db(transaction=True)
async def test_a_websocket_connect_is_logged_with_its_request_id(log_lines):
    communicator = WebsocketCommunicator(application, "/ws/health/", headers=[
        (b"x-request-id", b"ws-connect-1"), (b"origin", b"http://testserver")])
    connected, _ = await communicator.connect()
    assert connected
    await communicator.disconnect()
    lines = [line for line in log_lines() if line["logger"] == "tombola.access"]
    assert lines and all(line["request_id"] == "ws-connect-1" for line in lines)
    assert lines[0]["message"].startswith("WSCONNECT /ws/health/")


def test_log_format_json_is_a_setting():
    env = {**os.environ, "LOG_FORMAT": "json", "DJANGO_SETTINGS_MODULE": "core.settings"}
    code = ("import django; django.setup(); import logging; "
            "logging.getLogger('x').warning('hello %s', 'there')")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=60, cwd=django_settings.BASE_DIR)
    line = json.loads(done.stderr.strip().splitlines()[-1])
    assert (line["message"], line["level"], line["request_id"]) == ("hello there", "WARNING", "-")
    env["LOG_FORMAT"] = "xml"
    refused = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                             text=True, timeout=60, cwd=django_settings.BASE_DIR)
    assert refused.returncode != 0 and "LOG_FORMAT" in refused.stderr
