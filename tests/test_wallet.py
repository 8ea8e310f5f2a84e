"""Wallet: balance, top-ups with Idempotency-Key, the ledger, the non-negative guarantee.

Top-ups here go through the demo provider (credited at once, DEBUG on), so that what
an Idempotency-Key does to money shows in the balance; tests/test_payments*.py test
each provider."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import IntegrityError
from django.utils import timezone

from tests.ticketing_helpers import fund
from ticketing.models import IdempotencyKey, Wallet, WalletTransaction

pytest_plugins = ["tests.ticketing_fixtures"]


@pytest.fixture(autouse=True)
def demo_payments(settings):
    settings.DEBUG = True
    settings.PAYMENT_PROVIDER = "demo"


def top_up(client, amount, key=None):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return client.post("/api/wallet/top-up/", {"amount": amount}, format="json", **headers)


def test_a_new_wallet_is_empty(user_api):
    response = user_api.get("/api/wallet/")
    assert response.status_code == 200 and response.json()["balance"] == 0


def test_top_up_credits_the_wallet_and_writes_the_ledger(user_api, user):
    response = top_up(user_api, 2_500)
    assert response.status_code == 201
    assert response.json()["balance"] == 2_500
    assert response.json()["payment"]["status"] == "succeeded"
    assert response.json()["next_action"] == {"type": "none"}
    top_up(user_api, 500)
    assert user_api.get("/api/wallet").json()["balance"] == 3_000
    ledger = user_api.get("/api/wallet/transactions/").json()
    assert ledger["count"] == 2
    assert [(t["amount"], t["balance_after"]) for t in ledger["results"]] == [
        (500, 3_000), (2_500, 2_500)]
    assert Wallet.objects.get(user=user).balance == 3_000


@pytest.mark.parametrize("amount", [10.5, 10.0, "10.50", 0, -100, True, "ten", None, 10**12])
def test_top_up_rejects_bad_amounts(user_api, user, amount):
    response = top_up(user_api, amount)
    assert response.status_code == 400, response.json()
    assert response.json()["code"] in {"invalid", "invalid_amount"}
    assert not WalletTransaction.objects.exists()


def test_wallet_needs_login(api):
    assert api.get("/api/wallet/").status_code == 401
    assert top_up(api, 100).status_code == 401


def test_ledger_shows_only_my_movements(user_api, other_user):
    fund(other_user, 9_999)
    assert user_api.get("/api/wallet/transactions/").json()["count"] == 0
    assert user_api.get("/api/wallet/").json()["balance"] == 0


def test_every_wallet_movement_is_audited(user_api, user):
    from core.models import AuditEntry

    top_up(user_api, 700)
    entry = AuditEntry.objects.get(action="wallet.top_up")
    assert entry.actor_id == user.pk
    assert (entry.data["amount"], entry.data["balance_after"]) == (700, 700)


def test_the_database_refuses_a_negative_balance(user):
    fund(user, 100)
    with pytest.raises(IntegrityError):
        Wallet.objects.filter(user=user).update(balance=-1)


def test_same_idempotency_key_replays_the_first_response(user_api, user):
    first = top_up(user_api, 1_000, key="k-1")
    second = top_up(user_api, 1_000, key="k-1")
    assert second.status_code == 201
    assert second.json() == first.json()
    assert second["Idempotent-Replayed"] == "true"
    assert Wallet.objects.get(user=user).balance == 1_000
    assert WalletTransaction.objects.count() == 1


def test_idempotency_keys_belong_to_one_user(user_api, other_api, user, other_user):
    top_up(user_api, 1_000, key="shared")
    assert top_up(other_api, 1_000, key="shared").status_code == 201
    assert Wallet.objects.get(user=other_user).balance == 1_000


def test_same_key_with_a_different_body_is_422(user_api, user):
    top_up(user_api, 1_000, key="k-2")
    response = top_up(user_api, 2_000, key="k-2")
    assert response.status_code == 422
    assert response.json()["code"] == "idempotency_key_reused"
    assert Wallet.objects.get(user=user).balance == 1_000


def test_same_key_while_the_first_request_runs_is_409(user_api, user):
    # Make the key look claimed by a first request that has not finished yet
    # (tests/test_purchase.py races a real duplicate inside a purchase).
    first = top_up(user_api, 1_000, key="k-3")
    IdempotencyKey.objects.filter(key="k-3").update(response_status=None, response_body=None)
    response = top_up(user_api, 1_000, key="k-3")
    assert response.status_code == 409
    assert response.json()["code"] == "idempotency_request_in_progress"
    assert first.status_code == 201
    assert WalletTransaction.objects.count() == 1


def test_a_key_older_than_24_hours_runs_again(user_api, user):
    top_up(user_api, 1_000, key="k-4")
    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=24, seconds=1))
    response = top_up(user_api, 1_000, key="k-4")
    assert response.status_code == 201 and "Idempotent-Replayed" not in response
    assert Wallet.objects.get(user=user).balance == 2_000


def test_purging_removes_only_keys_past_retention(user_api):
    from ticketing.idempotency import idempotency_keys_purge

    top_up(user_api, 100, key="old")
    top_up(user_api, 100, key="new")
    IdempotencyKey.objects.filter(key="old").update(
        created_at=timezone.now() - timedelta(hours=25)
    )
    assert idempotency_keys_purge() == 1
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["new"]


def test_ticketing_registers_its_periodic_jobs_and_stream_kind():
    from core.periodic import periodic_jobs
    from core.streams import stream_kind

    jobs = {job.name: job.every_seconds for job in periodic_jobs()}
    assert jobs["ticketing.expire_holds"] == 1
    assert "ticketing.purge_idempotency_keys" in jobs
    assert stream_kind("seats") is not None


def test_a_rejected_request_is_replayed_too(user_api, user):
    first = top_up(user_api, -5, key="k-5")
    second = top_up(user_api, -5, key="k-5")
    assert first.status_code == second.status_code == 400
    assert second["Idempotent-Replayed"] == "true"


def test_an_overlong_idempotency_key_is_refused(user_api):
    response = top_up(user_api, 100, key="x" * 256)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_idempotency_key"
