"""Forwarding participants to the operator: a real local HTTP server plays the operator."""

from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from core.models import AuditEntry, DeliveryAttempt
from core.outbound import SIGNATURE_HEADER, verify_signature
from core.periodic import periodic_jobs
from live.forwarding import entries_forward, forward_due
from live.models import Entry, ForwardingBatch, OperatorEndpoint
from tests.conftest import assert_error
from tests.factories import make_draw, make_entrants, make_event
from tests.receivers import http_receiver

pytestmark = pytest.mark.django_db


@pytest.fixture
def draw():
    draw = make_draw()
    make_entrants(draw, 3)
    return draw


def operator(draw, url):
    return OperatorEndpoint.objects.create(event=draw.event, url=url)


def entry_ids(draw):
    return list(Entry.objects.filter(draw=draw).order_by("id").values_list("id", flat=True))


def due_now():
    ForwardingBatch.objects.update(next_attempt_at=timezone.now())
    return forward_due()


def test_batch_is_signed_and_entries_are_marked_forwarded(draw, staff):
    with http_receiver() as receiver:
        endpoint = operator(draw, receiver.url)
        batch = entries_forward(event=draw.event, entry_ids=entry_ids(draw)[:2], actor=staff)
        assert forward_due() == 1
    (request,) = receiver.requests
    assert verify_signature(endpoint.secret, request.body, request.headers[SIGNATURE_HEADER])
    assert request.headers["Tombola-Delivery"] == f"fw-{batch.pk}"
    body = request.json()
    assert body["batch_id"] == batch.pk and body["event_id"] == draw.event_id
    assert [p["entry_id"] for p in body["participants"]] == entry_ids(draw)[:2]
    assert body["participants"][0]["email"].endswith("@example.com")
    batch.refresh_from_db()
    assert batch.status == "succeeded" and batch.forwarded_at is not None
    forwarded = Entry.objects.filter(forwarded_at=batch.forwarded_at)
    assert sorted(forwarded.values_list("id", flat=True)) == entry_ids(draw)[:2]
    assert Entry.objects.filter(forwarded_at__isnull=True).count() == 1
    attempt = DeliveryAttempt.objects.get()
    assert attempt.target == f"operator:{batch.pk}" and attempt.succeeded
    assert attempt.status_code == 200 and attempt.url == receiver.url


def test_failure_then_success_logs_both_attempts(draw):
    with http_receiver(statuses=[500, 200]) as receiver:
        operator(draw, receiver.url)
        batch = entries_forward(event=draw.event, entry_ids=entry_ids(draw), actor=None)
        assert forward_due() == 0
        batch.refresh_from_db()
        assert batch.status == "pending" and batch.attempts == 1
        assert batch.next_attempt_at > timezone.now()  # backoff
        assert not Entry.objects.filter(forwarded_at__isnull=False).exists()
        assert forward_due() == 0  # not due yet
        assert due_now() == 1
    assert len(receiver.requests) == 2
    attempts = list(DeliveryAttempt.objects.order_by("id"))
    assert [(a.status_code, a.succeeded) for a in attempts] == [(500, False), (200, True)]
    assert Entry.objects.filter(forwarded_at__isnull=False).count() == 3


@override_settings(OPERATOR_MAX_ATTEMPTS=3)
def test_gives_up_after_max_attempts_and_marks_nothing(draw):
    with http_receiver(statuses=[503]) as receiver:
        operator(draw, receiver.url)
        batch = entries_forward(event=draw.event, entry_ids=entry_ids(draw), actor=None)
        for _ in range(5):
            due_now()
    assert len(receiver.requests) == 3
    batch.refresh_from_db()
    assert batch.status == "failed" and batch.attempts == 3 and batch.forwarded_at is None
    assert DeliveryAttempt.objects.filter(succeeded=False).count() == 3
    assert not Entry.objects.filter(forwarded_at__isnull=False).exists()


def test_unreachable_operator_is_logged_as_an_error(draw):
    with http_receiver() as receiver:
        url = receiver.url
    operator(draw, url)  # the server is gone: connection refused
    entries_forward(event=draw.event, entry_ids=entry_ids(draw), actor=None)
    assert forward_due() == 0
    attempt = DeliveryAttempt.objects.get()
    assert attempt.status_code is None and attempt.error and not attempt.succeeded


def test_a_claimed_batch_is_not_sent_twice(draw):
    with http_receiver() as receiver:
        operator(draw, receiver.url)
        entries_forward(event=draw.event, entry_ids=entry_ids(draw), actor=None)
        assert forward_due() == 1
        assert forward_due() == 0
    assert len(receiver.requests) == 1


def test_staff_endpoint_queues_a_batch(staff_api, draw, staff):
    operator(draw, "http://127.0.0.1:9/operator")
    response = staff_api.post(f"/api/events/{draw.event_id}/operator/forward/",
                              {"entries": entry_ids(draw)}, format="json")
    assert response.status_code == 201
    assert response.json()["entries"] == 3 and response.json()["status"] == "pending"
    batch = ForwardingBatch.objects.get()
    assert batch.entries.count() == 3 and batch.created_by == staff
    assert AuditEntry.objects.get(action="participants.forwarding").actor_id == staff.pk


def test_forwarding_without_an_operator_is_409(staff_api, draw):
    response = staff_api.post(f"/api/events/{draw.event_id}/operator/forward/",
                              {"entries": entry_ids(draw)}, format="json")
    assert_error(response, 409, "no_operator_endpoint")
    assert not ForwardingBatch.objects.exists()


def test_entries_of_another_event_are_refused(staff_api, draw):
    operator(draw, "http://127.0.0.1:9/operator")
    other = make_draw(make_event(title="Other"))
    make_entrants(other, 1, prefix="other")
    response = staff_api.post(f"/api/events/{draw.event_id}/operator/forward/",
                              {"entries": entry_ids(draw) + entry_ids(other)}, format="json")
    assert_error(response, 400, "nothing_to_forward")
    assert not ForwardingBatch.objects.exists()


def test_empty_selection_is_400(staff_api, draw):
    operator(draw, "http://127.0.0.1:9/operator")
    response = staff_api.post(f"/api/events/{draw.event_id}/operator/forward/",
                              {"entries": []}, format="json")
    assert_error(response, 400, "invalid")


def test_forwarding_is_staff_only(api, user_api, draw):
    url = f"/api/events/{draw.event_id}/operator/forward/"
    assert_error(api.post(url, {"entries": [1]}, format="json"), 401, "not_authenticated")
    assert_error(user_api.post(url, {"entries": [1]}, format="json"), 403, "permission_denied")


def test_forward_due_is_a_registered_periodic_job():
    assert "live.forwarding.forward_due" in {job.name for job in periodic_jobs()}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_claims_take_each_batch_once(draw):
    """Two schedulers claim at once; SKIP LOCKED hands every batch to exactly one."""
    import threading

    from django.db import connection

    from core.outbound import claim_due

    operator(draw, "http://127.0.0.1:9/operator")
    for entry_id in entry_ids(draw):
        entries_forward(event=draw.event, entry_ids=[entry_id], actor=None)
    claimed: list[list[int]] = []
    barrier = threading.Barrier(2)

    def claim():
        barrier.wait()
        claimed.append(claim_due(ForwardingBatch.objects.filter(status="pending"), limit=2,
                                 lease=timedelta(seconds=60)))
        connection.close()

    threads = [threading.Thread(target=claim) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [i for ids in claimed for i in ids]
    assert len(every) == len(set(every)) == 3
