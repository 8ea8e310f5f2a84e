"""Input that used to crash: NUL bytes in URLs and deeply nested JSON bodies are a 400
from one guard each (core/middleware.py, core/parsers.py), on every endpoint."""

from __future__ import annotations

import io
import json

import pytest
from django.urls import get_resolver
from rest_framework.exceptions import ParseError

from core.parsers import JSONParser, nesting_depth_exceeds
from tests.conftest import assert_error

pytestmark = pytest.mark.django_db

NUL = "%00"


def _routes() -> list[tuple[str, str]]:
    """(name, path) for every named URL of the project, ids filled with 1 and every
    other parameter (tokens, codes, formats) with a value carrying a NUL byte."""
    resolver = get_resolver()
    routes = set()
    for name in resolver.reverse_dict:
        if not isinstance(name, str):
            continue
        for possibility, pattern, _defaults, converters in resolver.reverse_dict.getlist(name):
            for template, params in possibility:
                values = {param: "1" if _is_id(param, pattern, converters) else f"a{NUL}b"
                          for param in params}
                routes.add((name, "/" + template % values))
    return sorted(routes)


def _is_id(param: str, pattern: str, converters: dict) -> bool:
    # path() keeps converters; api_path() (core/routes.py) is a re_path with the
    # converter's regex in a named group.
    if param in converters:
        return converters[param].regex == "[0-9]+"
    return f"(?P<{param}>[0-9]+)" in pattern


ROUTES = _routes()
ROUTES_WITH_TEXT_PARAMETERS = [(name, path) for name, path in ROUTES if NUL in path]
# The query parameters our views read (filters, lookups, pagination, the screen key).
QUERY = "&".join(f"{name}={NUL}" for name in (
    "q", "search", "status", "upcoming", "live", "from", "to", "page", "page_size",
    "code", "email", "phone", "key", "token", "ordering", "event", "since", "numbers"))


def test_the_scan_covers_the_routes_with_text_parameters():
    names = {name for name, _ in ROUTES_WITH_TEXT_PARAMETERS}
    assert {"hold-detail", "hold-purchase"} <= names, sorted(names)


def test_a_nul_byte_in_a_path_segment_is_400(api, staff_api):
    for _name, path in ROUTES_WITH_TEXT_PARAMETERS:
        for client in (api, staff_api):
            for method in ("get", "post", "delete"):
                assert_error(getattr(client, method)(path), 400, "bad_request")


def test_a_nul_byte_in_the_query_string_is_400(api, staff_api):
    for _name, path in ROUTES:
        path = path.replace(NUL, "b")
        for client in (api, staff_api):
            assert_error(client.get(f"{path}?{QUERY}"), 400, "bad_request")
        # One parameter alone is enough, whatever its name.
        assert_error(staff_api.get(f"{path}?x=1&search=a{NUL}"), 400, "bad_request")


def test_urls_without_nul_bytes_pass_the_guard(api, staff_api):
    assert api.get("/healthz/?x=%2500").status_code == 200  # "%00" as text, not a NUL
    assert staff_api.get("/api/events/?status=live").status_code == 200


# --- Deeply nested JSON bodies -------------------------------------------------------

DEEP = "[" * 5_000 + "]" * 5_000  # past the decoder's recursion limit (1,000)
DEEP_OBJECT = '{"email": ' + '{"a": ' * 200 + "1" + "}" * 200 + "}"  # parses, then nests


def _depth(levels: int):
    data: object = 1
    for _ in range(levels):
        data = [data]
    return data


def test_the_parser_refuses_what_nests_deeper_than_the_limit(settings):
    settings.API_JSON_MAX_DEPTH = 5
    assert not nesting_depth_exceeds(_depth(5), 5)
    assert nesting_depth_exceeds(_depth(6), 5)
    assert not nesting_depth_exceeds({"a": [{"b": 1}], "c": "x"}, 3)
    assert nesting_depth_exceeds({"a": [{"b": [1]}]}, 3)
    parser = JSONParser()
    for body in (DEEP, json.dumps(_depth(6))):
        with pytest.raises(ParseError):
            parser.parse(_Stream(body), "application/json", {})
    assert parser.parse(_Stream(json.dumps(_depth(5))), "application/json", {}) == _depth(5)


def _Stream(text: str) -> io.BytesIO:
    return io.BytesIO(text.encode())


# Anonymous JSON endpoints: they parse the body before anything else can refuse it.
ANONYMOUS_JSON = ["/api/accounts/register/", "/api/auth/token/", "/api/auth/token/refresh/",
                  "/api/waitlist/join/"]


@pytest.mark.parametrize("path", ANONYMOUS_JSON)
@pytest.mark.parametrize("body", [DEEP, DEEP_OBJECT], ids=["past-recursion", "deep"])
def test_a_deeply_nested_body_is_400_for_anonymous_clients(api, path, body):
    response = api.post(path, body, content_type="application/json")
    assert_error(response, 400, "parse_error")


def test_a_deeply_nested_body_is_never_a_500(staff_api):
    for _name, path in ROUTES:
        path = path.replace(NUL, "b")
        for method in ("post", "patch"):
            response = getattr(staff_api, method)(path, DEEP, content_type="application/json")
            assert response.status_code < 500, (method, path, response.content[:200])
