"""/metrics: Prometheus text for staff and allowed networks only; request latency by view."""

import pytest

pytestmark = pytest.mark.django_db


def test_metrics_are_served_to_the_local_network_with_request_latency_by_view(client):
    client.get("/healthz")
    response = client.get("/metrics", REMOTE_ADDR="127.0.0.1")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    sample = 'tombola_http_request_duration_seconds_count{method="GET",status="2xx",view="healthz"}'
    assert sample in text
    for name in ("tombola_ws_connections", "tombola_stream_resumes_total",
                 "tombola_stream_seq_gaps_total", "tombola_live_holds",
                 "tombola_draw_perform_duration_seconds"):
        assert f"# TYPE {name}" in text


def test_metrics_are_refused_to_other_networks(client, settings):
    response = client.get("/metrics", REMOTE_ADDR="203.0.113.9")
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"


def test_staff_may_read_metrics_from_anywhere(client, staff):
    client.force_login(staff)
    assert client.get("/metrics/", REMOTE_ADDR="203.0.113.9").status_code == 200


def test_non_staff_users_may_not(client, user):
    client.force_login(user)
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9").status_code == 403
