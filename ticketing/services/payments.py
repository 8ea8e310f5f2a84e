"""Payments: money into wallets through a provider, and back out to where it came from.

Every credit is a `top_up` ledger row and every refund a `payout` row (with the audit
entries wallet_move_money writes), each carrying `<provider>:<provider id>` as its
reference; each change of a payment's status writes a `payment.*` audit entry naming the
provider's id. A wallet is credited exactly once per payment: the change from `pending`
to `succeeded` happens under the payment row's lock (SELECT ... FOR UPDATE, found by the
unique (provider, provider_id)), so a notification delivered twice, or twice at once,
finds the second time that there is nothing left to do.

Lock order, everywhere: the payment row, then the wallet row (purchases lock only the
wallet), so two of these never wait for each other in a circle.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from core import audit
from core.models import User
from ticketing.errors import (
    InsufficientFunds,
    InvalidTopUpAmount,
    PaymentNotFound,
    PaymentNotManual,
    PaymentNotPending,
    PaymentNotRefundable,
    PayoutNotDue,
    TopUpDailyLimitReached,
)
from ticketing.models import Payment, Wallet, WalletTransaction
from ticketing.payments.base import Notification, payment_provider
from ticketing.services.wallets import locked_wallet, wallet_move_money

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TopUpStarted:
    payment: Payment
    next_action: dict[str, Any]
    balance: int


def _ledger_reference(payment: Payment) -> str:
    return f"{payment.provider}:{payment.provider_id}"[:100]


def _audit(payment: Payment, action: str, *, actor: User | None, source: str,
           **data: Any) -> None:
    audit.record(action=f"payment.{action}", obj=payment, actor=actor, data={
        "provider": payment.provider, "provider_id": payment.provider_id,
        "reference": payment.reference, "amount": payment.amount, "currency": payment.currency,
        "user": payment.user_id, "source": source, **data,
    })


def _locked_payment(**lookup: Any) -> Payment:
    payment = Payment.objects.select_for_update().filter(**lookup).first()
    if payment is None:
        raise PaymentNotFound()
    return payment


# --- starting a top-up ----------------------------------------------------------------


@transaction.atomic
def _payment_open(*, user: User, amount: int, provider: str) -> Payment:
    """Check the caps and write the pending payment. The wallet row's lock serialises one
    account's top-ups, so parallel requests cannot each pass the daily cap."""
    limit = settings.TICKETING_MAX_TOP_UP
    if isinstance(amount, bool) or amount <= 0 or amount > limit:
        raise InvalidTopUpAmount(limit=limit)
    locked_wallet(user.pk)
    since = timezone.now() - timedelta(hours=24)
    used = (Payment.objects.filter(user=user, created_at__gt=since)
            .exclude(status=Payment.Status.FAILED)
            .aggregate(total=Sum("amount"))["total"] or 0)
    daily = settings.TICKETING_MAX_TOP_UP_PER_DAY
    if used + amount > daily:
        raise TopUpDailyLimitReached(limit=daily, used=used)
    return Payment.objects.create(user=user, provider=provider, amount=amount,
                                  currency=settings.PAYMENT_CURRENCY)


def payment_start(*, user: User, amount: int, source: str = "api") -> TopUpStarted:
    """Start a wallet top-up of `amount` minor units with the configured provider.

    Three short transactions, not one, because the provider is asked over the network
    in between and no row lock should wait on it: (1) the caps are checked under the
    wallet's lock and the `pending` payment written; (2) the provider creates its side
    (Stripe: a PaymentIntent, idempotent per our reference); (3) its id is stored and the
    start audited; the demo provider's payment succeeds here, crediting the wallet.
    A provider that fails leaves the payment `failed` (not counted in the daily cap).

    Raises InvalidTopUpAmount, TopUpDailyLimitReached, PaymentProviderUnavailable,
    DemoPaymentsRefused.
    """
    provider = payment_provider()
    payment = _payment_open(user=user, amount=amount, provider=provider.name)
    try:
        started = provider.start(payment=payment)
    except Exception as exc:
        Payment.objects.filter(pk=payment.pk).update(
            status=Payment.Status.FAILED, failure_reason=str(exc)[:255],
            updated_at=timezone.now())
        raise
    with transaction.atomic():
        payment = _locked_payment(pk=payment.pk)
        payment.provider_id = started.provider_id
        payment.save(update_fields=["provider_id", "updated_at"])
        _audit(payment, "created", actor=user, source=source)
        balance = None
        if started.succeeded:
            balance = _payment_succeed(payment, actor=user, source=source).balance_after
    if balance is None:
        balance = Wallet.objects.filter(user=user).values_list("balance", flat=True).first()
    return TopUpStarted(payment=payment, next_action=started.next_action, balance=balance or 0)


# --- the money arrived ------------------------------------------------------------------


def _payment_succeed(payment: Payment, *, actor: User | None, source: str) -> WalletTransaction:
    """`payment` is locked and pending: mark it succeeded and credit its wallet."""
    now = timezone.now()
    payment.status = Payment.Status.SUCCEEDED
    payment.succeeded_at = now
    payment.save(update_fields=["status", "succeeded_at", "updated_at"])
    entry = wallet_move_money(
        wallet=locked_wallet(payment.user_id), amount=payment.amount,
        kind=WalletTransaction.Kind.TOP_UP, reference=_ledger_reference(payment), actor=actor,
    )
    _audit(payment, "succeeded", actor=actor, source=source, transaction=entry.pk)
    return entry


@transaction.atomic
def payment_notification_apply(*, provider: str, notification: Notification) -> Payment | None:
    """Apply a verified provider notification: credit on success, once; mark a failure.

    Locks the payment row found by (provider, provider id), or, when our row has no
    provider id yet, by the reference the provider echoes. Returns the payment, or None
    when the notification is about nothing of ours (another system on the same account)
    or nothing we act on. A succeeded notification whose amount or currency differs from
    the payment's credits nothing (logged and audited for staff).
    """
    if notification.outcome is None or not notification.provider_id:
        return None
    payment = Payment.objects.select_for_update().filter(
        provider=provider, provider_id=notification.provider_id).first()
    if payment is None and notification.reference:
        payment = Payment.objects.select_for_update().filter(
            provider=provider, reference=notification.reference, provider_id__isnull=True
        ).first()
        if payment is not None:
            payment.provider_id = notification.provider_id
            payment.save(update_fields=["provider_id", "updated_at"])
    if payment is None:
        log.info("payment notification %s for unknown %s %s", notification.event_id, provider,
                 notification.provider_id)
        return None
    source = f"{provider}:{notification.event_type or 'notification'}"
    if payment.status != Payment.Status.PENDING:
        return payment  # a retry, or a late failure after success: nothing to do
    if notification.outcome == "failed":
        payment.status = Payment.Status.FAILED
        payment.failure_reason = notification.failure_reason
        payment.save(update_fields=["status", "failure_reason", "updated_at"])
        _audit(payment, "failed", actor=None, source=source, event=notification.event_id,
               reason=notification.failure_reason)
        return payment
    if (notification.amount != payment.amount
            or notification.currency.lower() != payment.currency.lower()):
        log.error("payment %s: %s says %s %s, we asked for %s %s; not credited",
                  payment.reference, provider, notification.amount, notification.currency,
                  payment.amount, payment.currency)
        _audit(payment, "mismatch", actor=None, source=source, event=notification.event_id,
               notified_amount=notification.amount, notified_currency=notification.currency)
        return payment
    _payment_succeed(payment, actor=None, source=source)
    return payment


def payment_notification_handle(
    *, provider: str, body: bytes, headers: Mapping[str, str]
) -> Payment | None:
    """Verify a provider's notification (raises InvalidWebhookSignature) and apply it."""
    notification = payment_provider(provider).verify_notification(body=body, headers=headers)
    return payment_notification_apply(provider=provider, notification=notification)


@transaction.atomic
def payment_confirm_received(*, payment_id: int, actor: User | None, source: str) -> Payment:
    """Staff saw a bank transfer arrive: the pending manual payment succeeds and its
    wallet is credited. Locks the payment, then the wallet.

    Raises PaymentNotFound, PaymentNotManual, PaymentNotPending."""
    payment = _locked_payment(pk=payment_id)
    if payment.provider != Payment.Provider.MANUAL:
        raise PaymentNotManual()
    if payment.status != Payment.Status.PENDING:
        raise PaymentNotPending()
    _payment_succeed(payment, actor=actor, source=source)
    return payment


# --- money back out ---------------------------------------------------------------------


@transaction.atomic
def payment_refund(*, payment_id: int, actor: User | None, source: str) -> Payment:
    """Send a succeeded payment back to where it came from and debit its wallet by as much.

    Locks the payment, then the wallet; refuses (InsufficientFunds, nothing changed) when
    the wallet holds less than the payment. Stripe is asked for the refund inside the
    transaction, so a refusal or an unreachable Stripe rolls everything back; its
    idempotency key (per payment) makes a retry after a lost commit find the same refund.
    Manual payments become `payout_due`: staff transfer the money and mark it paid out.

    Raises PaymentNotFound, PaymentNotRefundable, InsufficientFunds,
    PaymentProviderUnavailable."""
    payment = _locked_payment(pk=payment_id)
    if payment.status != Payment.Status.SUCCEEDED:
        raise PaymentNotRefundable()
    wallet = locked_wallet(payment.user_id)
    if wallet.balance < payment.amount:
        raise InsufficientFunds(
            "The wallet holds less than this payment (it was spent); nothing was refunded.",
            extra={"balance": wallet.balance, "total": payment.amount})
    refunded = payment_provider(payment.provider).refund(payment=payment)
    entry = wallet_move_money(
        wallet=wallet, amount=-payment.amount, kind=WalletTransaction.Kind.PAYOUT,
        reference=_ledger_reference(payment), actor=actor,
    )
    payment.status = refunded.status
    payment.refund_id = refunded.refund_id
    payment.refunded_at = timezone.now()
    payment.save(update_fields=["status", "refund_id", "refunded_at", "updated_at"])
    _audit(payment, "refunded", actor=actor, source=source, transaction=entry.pk,
           refund_id=refunded.refund_id, status=refunded.status)
    return payment


@transaction.atomic
def payment_payout_mark_done(
    *, payment_id: int, actor: User | None, source: str, transfer_reference: str = ""
) -> Payment:
    """Staff transferred a refunded bank payment back: `payout_due` -> `refunded`.

    Raises PaymentNotFound, PayoutNotDue."""
    payment = _locked_payment(pk=payment_id)
    if payment.status != Payment.Status.PAYOUT_DUE:
        raise PayoutNotDue()
    payment.status = Payment.Status.REFUNDED
    payment.refund_id = transfer_reference[:255] or f"payout:{payment.reference}"
    payment.save(update_fields=["status", "refund_id", "updated_at"])
    _audit(payment, "paid_out", actor=actor, source=source, refund_id=payment.refund_id)
    return payment
