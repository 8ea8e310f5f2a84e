"""Payments by bank transfer (manual) and the demo provider; the caps every provider keeps;
the start-up and runtime guards. Stripe: tests/test_payments_stripe.py."""

from __future__ import annotations

import runpy

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import Client

from core.conf import assert_safe_to_serve
from core.models import AuditEntry
from tests.conftest import assert_error
from ticketing.models import Payment, Wallet, WalletTransaction
from ticketing.services.wallets import wallet_debit

pytestmark = pytest.mark.django_db


def top_up(client, amount=2_500, **headers):
    return client.post("/api/wallet/top-up/", {"amount": amount}, format="json", **headers)


def balance(user) -> int:
    return Wallet.objects.filter(user=user).values_list("balance", flat=True).first() or 0


def admin_action(client: Client, action: str, payment: Payment):
    return client.post("/admin/ticketing/payment/",
                       {"action": action, "_selected_action": [payment.pk]}, follow=True)


# --- bank transfer ----------------------------------------------------------------------


def test_a_bank_transfer_top_up_tells_the_reference_and_credits_nothing(user_api, user,
                                                                        settings):
    settings.BANK_TRANSFER_IBAN = "DE02120300000000202051"
    response = top_up(user_api, 2_500)

    assert response.status_code == 201, response.json()
    body = response.json()
    reference = body["payment"]["reference"]
    assert body["next_action"]["type"] == "bank_transfer"
    assert body["next_action"]["reference"] == reference and reference.startswith("TMB-")
    assert (body["next_action"]["amount"], body["next_action"]["iban"]) == (
        2_500, "DE02120300000000202051")
    assert body["payment"]["status"] == "pending" and body["balance"] == 0
    assert Payment.objects.get().provider_id == reference
    assert balance(user) == 0 and not WalletTransaction.objects.exists()


def test_staff_confirm_the_transfer_and_only_then_the_wallet_is_credited(
        user_api, user, staff, staff_api):
    payment_id = top_up(user_api, 2_500).json()["payment"]["id"]

    response = staff_api.post(f"/api/payments/{payment_id}/confirm/")

    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "succeeded"
    assert balance(user) == 2_500
    payment = Payment.objects.get()
    entry = WalletTransaction.objects.get()
    assert entry.reference == f"manual:{payment.reference}"
    confirmed = AuditEntry.objects.get(action="payment.succeeded")
    assert confirmed.actor_id == staff.pk and confirmed.data["provider_id"] == payment.reference
    assert AuditEntry.objects.get(action="payment.created").actor_id == user.pk
    # Confirmed once: a second confirmation changes nothing.
    assert_error(staff_api.post(f"/api/payments/{payment_id}/confirm/"), 409,
                 "payment_not_pending")
    assert balance(user) == 2_500 and WalletTransaction.objects.count() == 1


def test_confirming_needs_the_confirm_permission(user_api, make_user, staff_api):
    from django.contrib.auth.models import Permission

    from tests.conftest import client_for

    payment_id = top_up(user_api).json()["payment"]["id"]
    viewer = make_user(is_staff=True)
    viewer.user_permissions.set(Permission.objects.filter(codename="view_payment"))

    assert client_for(viewer).post(f"/api/payments/{payment_id}/confirm/").status_code == 403
    assert client_for(viewer).get("/api/payments/").status_code == 200
    assert staff_api.post(f"/api/payments/{payment_id}/confirm/").status_code == 200


def test_staff_find_a_transfer_by_its_reference(user_api, other_api, staff_api):
    reference = top_up(user_api, 1_000).json()["payment"]["reference"]
    top_up(other_api, 2_000)

    found = staff_api.get("/api/payments/", {"reference": reference}).json()

    assert found["count"] == 1 and found["results"][0]["amount"] == 1_000


def test_the_admin_confirms_refunds_and_marks_the_payout(user_api, user, superuser_browser):
    payment = Payment.objects.get(pk=top_up(user_api, 2_500).json()["payment"]["id"])

    admin_action(superuser_browser, "confirm_received", payment)
    assert balance(user) == 2_500
    admin_action(superuser_browser, "refund_to_origin", payment)
    payment.refresh_from_db()
    assert payment.status == "payout_due" and balance(user) == 0
    admin_action(superuser_browser, "mark_paid_out", payment)
    payment.refresh_from_db()
    assert payment.status == "refunded" and payment.refund_id == f"payout:{payment.reference}"
    actions = list(AuditEntry.objects.filter(action__startswith="payment.")
                   .order_by("id").values_list("action", flat=True))
    assert actions == ["payment.created", "payment.succeeded", "payment.refunded",
                       "payment.paid_out"]


def test_the_admin_offers_payment_actions_only_with_their_permissions(
        user_api, make_user, settings):
    from django.contrib.auth.models import Permission

    top_up(user_api)
    viewer = make_user(is_staff=True)
    viewer.user_permissions.set(Permission.objects.filter(codename="view_payment"))
    client = Client()
    client.force_login(viewer)

    page = client.get("/admin/ticketing/payment/").content.decode()

    assert "confirm_received" not in page and "refund_to_origin" not in page
    payment = Payment.objects.get()
    admin_action(client, "confirm_received", payment)
    assert Payment.objects.get().status == "pending"


def test_a_bank_refund_debits_the_wallet_and_waits_for_the_payout(user_api, user, staff_api):
    payment_id = top_up(user_api, 2_500).json()["payment"]["id"]
    staff_api.post(f"/api/payments/{payment_id}/confirm/")

    response = staff_api.post(f"/api/payments/{payment_id}/refund/")

    assert response.status_code == 200 and response.json()["status"] == "payout_due"
    assert balance(user) == 0
    payout = WalletTransaction.objects.get(kind="payout")
    assert payout.amount == -2_500 and payout.balance_after == 0


def test_a_refund_is_refused_when_the_wallet_lacks_the_money(user_api, user, staff_api):
    payment_id = top_up(user_api, 2_500).json()["payment"]["id"]
    staff_api.post(f"/api/payments/{payment_id}/confirm/")
    wallet_debit(user=user, amount=2_000, kind="purchase", reference="order", actor=user)

    assert_error(staff_api.post(f"/api/payments/{payment_id}/refund/"), 402,
                 "insufficient_funds")
    assert Payment.objects.get().status == "succeeded" and balance(user) == 500


def test_a_pending_payment_cannot_be_refunded(user_api, staff_api):
    payment_id = top_up(user_api).json()["payment"]["id"]
    assert_error(staff_api.post(f"/api/payments/{payment_id}/refund/"), 409,
                 "payment_not_refundable")


# --- caps and throttle ------------------------------------------------------------------


def test_one_payment_is_capped(user_api, settings):
    settings.TICKETING_MAX_TOP_UP = 5_000
    body = assert_error(top_up(user_api, 5_001), 400, "invalid_amount")
    assert body["limit"] == 5_000
    assert top_up(user_api, 5_000).status_code == 201


def test_the_days_payments_are_capped_per_account(user_api, other_api, settings):
    settings.TICKETING_MAX_TOP_UP_PER_DAY = 3_000
    assert top_up(user_api, 2_000).status_code == 201
    assert top_up(user_api, 1_000).status_code == 201

    body = assert_error(top_up(user_api, 1), 409, "top_up_limit_reached")

    assert (body["limit"], body["used"]) == (3_000, 3_000)
    assert top_up(other_api, 3_000).status_code == 201  # per account
    # Failed payments do not count; yesterday's neither.
    Payment.objects.filter(amount=1_000).update(status="failed")
    assert top_up(user_api, 1_000).status_code == 201
    from datetime import timedelta

    from django.utils import timezone
    Payment.objects.update(created_at=timezone.now() - timedelta(hours=25))
    assert top_up(user_api, 3_000).status_code == 201


def test_top_ups_are_throttled(user_api, rates):
    rates(top_up="2/min")
    assert top_up(user_api, 100).status_code == 201
    assert top_up(user_api, 100).status_code == 201
    assert_error(top_up(user_api, 100), 429, "throttled")


def test_a_retried_top_up_starts_one_payment(user_api):
    first = top_up(user_api, 700, HTTP_IDEMPOTENCY_KEY="k-1")
    second = top_up(user_api, 700, HTTP_IDEMPOTENCY_KEY="k-1")

    assert second.json() == first.json() and second["Idempotent-Replayed"] == "true"
    assert Payment.objects.count() == 1


# --- demo --------------------------------------------------------------------------------


def test_demo_credits_at_once_with_debug_on(user_api, user, settings):
    settings.DEBUG = True
    settings.PAYMENT_PROVIDER = "demo"

    body = top_up(user_api, 900).json()

    assert body["next_action"] == {"type": "none"} and body["balance"] == 900
    payment = Payment.objects.get()
    assert payment.status == "succeeded" and payment.provider_id == f"demo_{payment.reference}"
    assert WalletTransaction.objects.get().reference == f"demo:demo_{payment.reference}"


def test_demo_refuses_to_credit_with_debug_off(user_api, user, settings):
    settings.DEBUG = False
    settings.PAYMENT_PROVIDER = "demo"

    assert_error(top_up(user_api, 900), 503, "demo_payments_refused")

    assert balance(user) == 0 and Payment.objects.get().status == "failed"


def test_serving_refuses_demo_payments_with_debug_off(settings):
    settings.SECRET_KEY = "a-real-secret-from-the-environment"
    settings.SMS_BACKEND = "http"
    settings.DEBUG = False
    settings.PAYMENT_PROVIDER = "demo"
    with pytest.raises(ImproperlyConfigured, match="PAYMENT_PROVIDER=demo"):
        assert_safe_to_serve()
    settings.DEBUG = True
    assert_safe_to_serve()


def test_serving_refuses_stripe_without_its_secrets(settings):
    settings.DEBUG = True  # even in development: without them nothing could be paid
    settings.PAYMENT_PROVIDER = "stripe"
    settings.STRIPE_SECRET_KEY = "sk_test_x"
    settings.STRIPE_WEBHOOK_SECRET = ""
    with pytest.raises(ImproperlyConfigured, match="STRIPE_WEBHOOK_SECRET"):
        assert_safe_to_serve()


@pytest.mark.parametrize(("debug", "provider"), [("1", "demo"), ("0", "manual")])
def test_the_default_provider_is_demo_only_in_debug(debug, provider, monkeypatch):
    """What core/settings.py chooses from the environment (run again, in a namespace of
    its own: the live settings stay as they are)."""
    import core.settings

    monkeypatch.delenv("PAYMENT_PROVIDER", raising=False)
    monkeypatch.setenv("DEBUG", debug)
    assert runpy.run_path(core.settings.__file__)["PAYMENT_PROVIDER"] == provider


def test_notifications_are_only_for_providers_that_send_them():
    from ticketing.errors import NotificationNotSupported
    from ticketing.payments.base import payment_provider

    for name in ("manual", "demo"):
        with pytest.raises(NotificationNotSupported):
            payment_provider(name).verify_notification(body=b"{}", headers={})


def test_a_pending_payment_blocks_erasing_the_account(user_api, user, staff_api):
    from ticketing.personal_data import blockers

    payment_id = top_up(user_api, 500).json()["payment"]["id"]
    assert [b["code"] for b in blockers(user)] == ["payment_pending"]
    staff_api.post(f"/api/payments/{payment_id}/confirm/")
    assert [b["code"] for b in blockers(user)] == ["wallet_not_empty"]
