"""Stripe: a top-up creates a PaymentIntent through the `stripe` library (against a local
server answering as Stripe's API does) and credits nothing; only Stripe's webhook, its
signature verified with the endpoint secret and inside the replay window, credits the
wallet, once, however often (or however simultaneously) Stripe delivers it."""

from __future__ import annotations

import json
import threading
import time

import pytest
from django.db import connection
from django.test import Client

from core.models import AuditEntry
from tests.conftest import assert_error
from tests.stripe_server import (
    TEST_SECRET_KEY,
    TEST_WEBHOOK_SECRET,
    fake_stripe,
    signature_header,
)
from ticketing.models import Payment, Wallet, WalletTransaction
from ticketing.services.wallets import wallet_debit

WEBHOOK = "/api/payments/stripe/webhook/"


@pytest.fixture
def stripe_api(settings):
    with fake_stripe() as server:
        settings.PAYMENT_PROVIDER = "stripe"
        settings.STRIPE_SECRET_KEY = TEST_SECRET_KEY
        settings.STRIPE_WEBHOOK_SECRET = TEST_WEBHOOK_SECRET
        settings.STRIPE_API_BASE = server.url
        yield server


def deliver(body: bytes, header: str | None = None, client=None):
    """POST the raw event as Stripe does, signed now with the test secret by default."""
    headers = {"HTTP_STRIPE_SIGNATURE": signature_header(body) if header is None else header}
    return (client or Client()).post(WEBHOOK, body, content_type="application/json", **headers)


def start(user_api, amount=2_500, **headers):
    response = user_api.post("/api/wallet/top-up/", {"amount": amount}, format="json",
                             **headers)
    assert response.status_code == 201, response.json()
    return response.json()


def balance(user) -> int:
    return Wallet.objects.filter(user=user).values_list("balance", flat=True).first() or 0


@pytest.mark.django_db
def test_a_top_up_creates_a_payment_intent_and_credits_nothing(stripe_api, user_api, user):
    body = start(user_api, 2_500)

    created = stripe_api.posts("/v1/payment_intents")
    assert len(created) == 1
    request = created[0]
    assert request.headers["Authorization"] == f"Bearer {TEST_SECRET_KEY}"
    reference = body["payment"]["reference"]
    assert request.headers["Idempotency-Key"] == f"tombola-payment-{reference}"
    assert request.params["amount"] == "2500" and request.params["currency"] == "eur"
    assert request.params["metadata"]["tombola_payment"] == reference
    assert request.params["automatic_payment_methods"] == {"enabled": "true"}
    intent = stripe_api.intents[body["payment"]["provider_id"]]
    assert body["next_action"]["type"] == "stripe_payment"
    assert body["next_action"]["client_secret"] == intent["client_secret"]
    assert body["payment"]["status"] == "pending" and body["balance"] == 0
    assert balance(user) == 0 and not WalletTransaction.objects.exists()
    assert AuditEntry.objects.get(action="payment.created").data["provider_id"] == intent["id"]


@pytest.mark.django_db
def test_the_verified_webhook_credits_the_wallet_once_however_often_it_comes(
        stripe_api, user_api, user):
    pi = start(user_api, 2_500)["payment"]["provider_id"]
    event = stripe_api.event(pi)

    for _ in range(3):  # Stripe retries until it gets a 2xx, and may deliver twice anyway
        response = deliver(event)
        assert response.status_code == 200 and response.json()["received"] is True

    assert balance(user) == 2_500
    entry = WalletTransaction.objects.get()
    assert (entry.kind, entry.amount, entry.reference) == ("top_up", 2_500, f"stripe:{pi}")
    payment = Payment.objects.get()
    assert payment.status == "succeeded" and payment.succeeded_at is not None
    audited = AuditEntry.objects.get(action="payment.succeeded")
    assert audited.data["provider_id"] == pi and audited.data["transaction"] == entry.pk
    assert audited.actor_id is None  # Stripe said so, not a person
    assert AuditEntry.objects.get(action="wallet.top_up").data["reference"] == f"stripe:{pi}"


@pytest.mark.django_db
def test_an_event_signed_with_another_secret_credits_nothing(stripe_api, user_api, user):
    pi = start(user_api)["payment"]["provider_id"]
    event = stripe_api.event(pi)

    assert_error(deliver(event, signature_header(event, secret="whsec_guessed")), 400,
                 "invalid_signature")
    assert_error(deliver(event, ""), 400, "invalid_signature")  # no signature at all
    assert_error(deliver(event, "t=notanumber,v1=abc"), 400, "invalid_signature")
    assert balance(user) == 0 and Payment.objects.get().status == "pending"


@pytest.mark.django_db
def test_a_changed_body_under_a_real_signature_credits_nothing(stripe_api, user_api, user):
    pi = start(user_api, 100)["payment"]["provider_id"]
    event = stripe_api.event(pi)
    header = signature_header(event)
    tampered = event.replace(b'"amount_received": 100', b'"amount_received": 99999')
    assert tampered != event

    assert_error(deliver(tampered, header), 400, "invalid_signature")
    assert balance(user) == 0


@pytest.mark.django_db
def test_a_signature_outside_the_replay_window_is_refused(stripe_api, user_api, user, settings):
    settings.STRIPE_WEBHOOK_TOLERANCE_SECONDS = 300
    pi = start(user_api)["payment"]["provider_id"]
    event = stripe_api.event(pi)
    now = int(time.time())

    assert_error(deliver(event, signature_header(event, timestamp=now - 301)), 400,
                 "invalid_signature")
    assert_error(deliver(event, signature_header(event, timestamp=now + 3600)), 400,
                 "invalid_signature")
    assert balance(user) == 0
    assert deliver(event, signature_header(event, timestamp=now - 200)).status_code == 200
    assert balance(user) == 2_500


@pytest.mark.django_db
def test_the_clients_word_is_not_a_payment(stripe_api, user_api, user):
    """Whatever the client posts to us (an unsigned event, the intent id, its secret),
    only Stripe's signed webhook credits."""
    body = start(user_api)
    event = stripe_api.event(body["payment"]["provider_id"])

    assert_error(user_api.post(WEBHOOK, json.loads(event), format="json"), 400,
                 "invalid_signature")
    assert user_api.post(f"/api/payments/{body['payment']['id']}/confirm/").status_code == 403
    assert balance(user) == 0


@pytest.mark.django_db
def test_a_failed_payment_is_marked_and_credits_nothing(stripe_api, user_api, user):
    pi = start(user_api)["payment"]["provider_id"]

    assert deliver(stripe_api.event(pi, "payment_intent.payment_failed")).status_code == 200

    payment = Payment.objects.get()
    assert payment.status == "failed" and payment.failure_reason == "Your card was declined."
    assert balance(user) == 0
    assert AuditEntry.objects.filter(action="payment.failed").count() == 1


@pytest.mark.django_db
def test_a_success_for_another_amount_credits_nothing(stripe_api, user_api, user):
    pi = start(user_api, 2_500)["payment"]["provider_id"]

    assert deliver(stripe_api.event(pi, amount_received=50)).status_code == 200

    assert balance(user) == 0 and Payment.objects.get().status == "pending"
    assert AuditEntry.objects.filter(action="payment.mismatch").count() == 1


@pytest.mark.django_db
def test_events_about_other_intents_are_acknowledged_and_ignored(stripe_api, user, user_api):
    foreign = stripe_api.create_intent({"amount": "700", "currency": "eur"})["id"]

    response = deliver(stripe_api.event(foreign))

    assert response.status_code == 200 and response.json()["payment"] is None
    assert not WalletTransaction.objects.exists()


@pytest.mark.django_db
def test_stripe_refusing_the_intent_fails_the_payment_and_charges_nothing(
        stripe_api, user_api, user):
    stripe_api.fail_with = (400, {"error": {"type": "invalid_request_error",
                                            "message": "Amount must be at least €0.50 eur",
                                            "param": "amount", "code": "amount_too_small"}})
    response = user_api.post("/api/wallet/top-up/", {"amount": 10}, format="json",
                             HTTP_IDEMPOTENCY_KEY="k-1")

    assert_error(response, 503, "payment_provider_unavailable")
    assert Payment.objects.get().status == "failed"
    stripe_api.fail_with = None  # a 5xx forgot the key: the retry runs again
    response = user_api.post("/api/wallet/top-up/", {"amount": 10}, format="json",
                             HTTP_IDEMPOTENCY_KEY="k-1")
    assert response.status_code == 201


@pytest.mark.django_db
def test_staff_refund_a_card_payment_through_stripe(stripe_api, user_api, user, staff_api):
    body = start(user_api, 2_500)
    pi = body["payment"]["provider_id"]
    deliver(stripe_api.event(pi))

    response = staff_api.post(f"/api/payments/{body['payment']['id']}/refund/")

    assert response.status_code == 200, response.json()
    refunds = stripe_api.posts("/v1/refunds")
    assert len(refunds) == 1
    assert refunds[0].params["payment_intent"] == pi and refunds[0].params["amount"] == "2500"
    assert refunds[0].headers["Idempotency-Key"] == f"tombola-refund-{body['payment']['reference']}"
    refund_id = next(iter(stripe_api.refunds))
    assert response.json()["status"] == "refunded" and response.json()["refund_id"] == refund_id
    assert balance(user) == 0
    payout = WalletTransaction.objects.get(kind="payout")
    assert (payout.amount, payout.reference) == (-2_500, f"stripe:{pi}")
    audited = AuditEntry.objects.get(action="payment.refunded")
    assert audited.data["refund_id"] == refund_id and audited.data["provider_id"] == pi
    assert_error(staff_api.post(f"/api/payments/{body['payment']['id']}/refund/"), 409,
                 "payment_not_refundable")
    assert len(stripe_api.posts("/v1/refunds")) == 1


@pytest.mark.django_db
def test_a_refund_is_refused_when_the_money_was_spent(stripe_api, user_api, user, staff_api):
    body = start(user_api, 2_500)
    deliver(stripe_api.event(body["payment"]["provider_id"]))
    wallet_debit(user=user, amount=1_000, kind="purchase", reference="order 1", actor=user)

    response = staff_api.post(f"/api/payments/{body['payment']['id']}/refund/")

    assert_error(response, 402, "insufficient_funds")
    assert response.json()["balance"] == 1_500
    assert stripe_api.posts("/v1/refunds") == []
    assert Payment.objects.get().status == "succeeded" and balance(user) == 1_500


@pytest.mark.django_db
def test_stripe_refusing_the_refund_changes_nothing(stripe_api, user_api, user, staff_api):
    body = start(user_api, 2_500)
    deliver(stripe_api.event(body["payment"]["provider_id"]))
    stripe_api.fail_with = (400, {"error": {"type": "invalid_request_error",
                                            "code": "charge_already_refunded",
                                            "message": "Charge has already been refunded."}})

    response = staff_api.post(f"/api/payments/{body['payment']['id']}/refund/")

    assert_error(response, 503, "payment_provider_unavailable")
    assert Payment.objects.get().status == "succeeded" and balance(user) == 2_500
    assert not WalletTransaction.objects.filter(kind="payout").exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_same_event_delivered_at_once_by_many_retries_credits_once(stripe_api, make_user):
    """Stripe's retries can overlap: eight deliveries of one event at the same moment,
    each on its own connection; the payment row's lock lets one credit."""
    from tests.conftest import client_for

    buyer = make_user()
    pi = start(client_for(buyer), 4_000)["payment"]["provider_id"]
    event = stripe_api.event(pi)
    header = signature_header(event)
    barrier = threading.Barrier(8)
    statuses: list[int] = []

    def retry():
        try:
            client = Client()
            barrier.wait()
            statuses.append(deliver(event, header, client=client).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=retry) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert statuses == [200] * 8
    assert balance(buyer) == 4_000
    assert WalletTransaction.objects.filter(wallet__user=buyer).count() == 1
    assert AuditEntry.objects.filter(action="payment.succeeded").count() == 1


@pytest.mark.django_db
def test_a_webhook_before_the_intent_id_was_stored_finds_the_payment_by_reference(
        stripe_api, user_api, user):
    """Our row gets the intent's id after Stripe answers; a success notified before that
    commit still finds the payment through the reference in the intent's metadata."""
    body = start(user_api, 1_200)
    pi = body["payment"]["provider_id"]
    Payment.objects.update(provider_id=None)

    assert deliver(stripe_api.event(pi)).status_code == 200

    payment = Payment.objects.get()
    assert (payment.provider_id, payment.status) == (pi, "succeeded")
    assert balance(user) == 1_200
