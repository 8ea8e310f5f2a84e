"""The OpenAPI schema itself: generated without a warning, valid, and complete.

schemathesis (tests/test_schemathesis.py) checks answers against it, so every
operation must document its request and 2xx body; errors share one component.
"""

from __future__ import annotations

import pytest
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema

METHODS = ("get", "post", "put", "patch", "delete")


@pytest.fixture(scope="module")
def schema():
    GENERATOR_STATS.reset()
    with GENERATOR_STATS.silence():
        generated = SchemaGenerator().get_schema(request=None, public=True)
    # What `manage.py spectacular --fail-on-warn` fails on: warnings and errors alike.
    stats = {"warnings": dict(GENERATOR_STATS._warn_cache),
             "errors": dict(GENERATOR_STATS._error_cache)}
    return generated, stats


def operations(schema):
    for path, item in schema["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method]


def test_schema_generates_with_no_warnings_and_validates(schema):
    generated, stats = schema
    assert stats == {"warnings": {}, "errors": {}}
    validate_schema(generated)  # raises on an invalid OpenAPI 3 document


def test_operation_ids_are_unique_and_plain(schema):
    ids = [op["operationId"] for _, _, op in operations(schema[0])]
    assert len(ids) == len(set(ids))
    assert all(i.replace("_", "").isalnum() for i in ids), ids


def test_every_operation_documents_its_success_body(schema):
    missing = []
    for path, method, op in operations(schema[0]):
        success = {code: r for code, r in op["responses"].items() if code.startswith("2")}
        documented = all("content" in r or code == "204" for code, r in success.items())
        if not success or not documented:
            missing.append(f"{method.upper()} {path}")
    assert missing == []


def test_every_write_documents_its_request_body(schema):
    bodiless = {
        # Actions whose URL says everything: no body to send.
        "/api/events/{id}/screen-keys/{key_id}/revoke/", "/api/events/{id}/draws/{draw_id}/claim/",
        "/api/events/{id}/draws/{draw_id}/redraw/", "/api/events/{id}/draws/{draw_id}/notify/",
        "/api/holds/{token}/", "/api/tickets/{id}/cancel/", "/api/auth/logout/all/",
        "/api/events/{id}/queue/", "/api/events/{id}/waiting-room/pause/",
        "/api/events/{id}/waiting-room/resume/", "/api/events/{id}/waiting-room/open/",
        "/api/events/{id}/waiting-room/close/",
        "/api/payments/{id}/confirm/", "/api/payments/{id}/refund/",
        "/api/events/{id}/scan-conflicts/{conflict_id}/resolve/",
    }
    missing = [f"{method.upper()} {path}" for path, method, op in operations(schema[0])
               if method in ("post", "put", "patch") and "requestBody" not in op
               and path not in bodiless]
    assert missing == []


def test_errors_use_the_shared_error_component(schema):
    generated = schema[0]
    error = generated["components"]["schemas"]["Error"]
    assert set(error["required"]) == {"code", "detail"}
    assert {"code", "detail", "fields", "retry_after_seconds"} <= set(error["properties"])
    for path, method, op in operations(generated):
        for code, response in op["responses"].items():
            if code.startswith(("4", "5")):
                ref = response["content"]["application/json"]["schema"]["$ref"]
                assert ref == "#/components/schemas/Error", (method, path, code)


def test_throttled_and_staff_operations_document_429_and_403(schema):
    ops = {(m, p): op for p, m, op in operations(schema[0])}
    assert "429" in ops[("post", "/api/auth/token/")]["responses"]
    assert "429" in ops[("post", "/api/accounts/phone/verification/confirm/")]["responses"]
    assert "429" in ops[("get", "/api/events/{id}/draws/{draw_id}/results/")]["responses"]
    assert "403" in ops[("post", "/api/events/{id}/draws/{draw_id}/perform/")]["responses"]
    assert "401" not in ops[("get", "/api/waitlist/{code}/")]["responses"]


def test_account_abuse_answers_are_documented(schema):
    """The codes of issue 14's account limits are in the schema clients generate from."""
    ops = {(m, p): op["responses"] for p, m, op in operations(schema[0])}
    send = ops[("post", "/api/accounts/phone/verification/")]
    assert "phone_not_mobile" in send["400"]["description"]
    assert "phone_region_not_allowed" in send["400"]["description"]
    assert "sms_budget_exhausted" in send["503"]["description"]
    me = ops[("patch", "/api/accounts/me/")]
    assert "wrong_current_password" in me["400"]["description"]
    assert "credentials_change" in me["429"]["description"]
    assert "already_on_waitlist" in ops[("post", "/api/waitlist/join/")]["409"]["description"]
    resend = ops[("post", "/api/waitlist/confirm-email/resend/")]
    assert {"202", "404", "429"} <= set(resend)


def test_every_operation_has_a_summary_and_a_description(schema):
    missing = [f"{method.upper()} {path}" for path, method, op in operations(schema[0])
               if not op.get("summary", "").strip() or not op.get("description", "").strip()]
    assert missing == []


def test_the_important_operations_show_an_example_request_and_answer(schema):
    ops = {(m, p): op for p, m, op in operations(schema[0])}
    for method, path, status in (
        ("post", "/api/accounts/register/", "201"),
        ("post", "/api/events/{id}/holds/", "201"),
        ("post", "/api/holds/{token}/purchase/", "201"),
        ("post", "/api/events/{id}/draws/{draw_id}/perform/", "200"),
    ):
        op = ops[(method, path)]
        assert op["requestBody"]["content"]["application/json"].get("examples"), path
        assert op["responses"][status]["content"]["application/json"].get("examples"), path
    # The WebSocket resume is not a REST operation: the schema's front page shows it.
    assert '{"type": "resume", "since": 41}' in schema[0]["info"]["description"]


def test_lists_declare_their_filters_ordering_and_search(schema):
    ops = {(m, p): op for p, m, op in operations(schema[0])}

    def query(path):
        return {p["name"] for p in ops[("get", path)]["parameters"] if p["in"] == "query"}

    assert {"status", "event", "ordering"} <= query("/api/orders/")
    assert {"kind", "ordering"} <= query("/api/wallet/transactions/")
    assert {"status", "kind", "search", "ordering"} <= query("/api/events/{id}/draws/")
    assert {"event", "ordering"} <= query("/api/tickets/")
    assert {"from_date", "to_date", "status", "venue", "search", "ordering"} <= query(
        "/api/events/")
