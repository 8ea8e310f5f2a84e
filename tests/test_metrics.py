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


def _sample(client, name: str, labels: str = "") -> float:
    text = client.get("/metrics", REMOTE_ADDR="127.0.0.1").content.decode()
    prefix = f"{name}{{{labels}}} " if labels else f"{name} "
    lines = [line for line in text.splitlines() if line.startswith(prefix)]
    return float(lines[0].split()[-1]) if lines else 0.0


def test_published_messages_and_draw_durations_are_counted(client):
    from core import streams
    from live.services.performing import draw_perform
    from tests.factories import make_draw, make_entrants

    before = _sample(client, "tombola_stream_messages_published_total", 'kind="event"')
    streams.publish("event:1", "event.updated", {})
    assert _sample(client, "tombola_stream_messages_published_total",
                   'kind="event"') == before + 1
    draw = make_draw()
    make_entrants(draw, 3)
    performed = _sample(client, "tombola_draw_perform_duration_seconds_count", 'kind="raffle"')
    draw_perform(draw=draw, actor=None, source="staff:test")
    assert _sample(client, "tombola_draw_perform_duration_seconds_count",
                   'kind="raffle"') == performed + 1


def test_live_holds_are_read_from_the_database_at_scrape_time(client, user):
    from datetime import timedelta

    from django.utils import timezone

    from core.models import Event
    from ticketing.models import SeatHold

    assert _sample(client, "tombola_live_holds") == 0
    event = Event.objects.create(title="Match", starts_at=timezone.now() + timedelta(days=1))
    now = timezone.now()
    SeatHold.objects.create(event=event, user=user, seat_ids=[1], fence=1, created_at=now,
                            expires_at=now + timedelta(minutes=5))
    SeatHold.objects.create(event=event, user=user, seat_ids=[2], fence=2, created_at=now,
                            expires_at=now - timedelta(seconds=1))  # expired: not live
    assert _sample(client, "tombola_live_holds") == 1
