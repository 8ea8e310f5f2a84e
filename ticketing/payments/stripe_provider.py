"""Stripe PaymentIntents through the official `stripe` library.

A top-up creates a PaymentIntent (our reference in its metadata, and as the idempotency
key, so a retried creation returns the same intent); the client confirms it with the
client secret (Stripe.js or a mobile SDK). The wallet is credited only when Stripe's
webhook says `payment_intent.succeeded`, its `Stripe-Signature` verified with the
endpoint's signing secret by `stripe.Webhook.construct_event` and its timestamp inside
STRIPE_WEBHOOK_TOLERANCE_SECONDS, either way: never from anything the client says
(docs/decisions/2026-11-30-payments-credit-from-verified-webhook.md).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping

import stripe
from django.conf import settings

from ticketing.errors import InvalidWebhookSignature, PaymentProviderUnavailable
from ticketing.models import Payment
from ticketing.payments.base import Notification, Refunded, Started

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "Stripe-Signature"
# Stripe's own metadata key for our reference.
METADATA_REFERENCE = "tombola_payment"
OUTCOMES = {
    "payment_intent.succeeded": "succeeded",
    "payment_intent.payment_failed": "failed",
    "payment_intent.canceled": "failed",
}


def stripe_client() -> stripe.StripeClient:
    return stripe.StripeClient(
        settings.STRIPE_SECRET_KEY,
        base_addresses={"api": settings.STRIPE_API_BASE},
        http_client=stripe.RequestsClient(timeout=settings.STRIPE_TIMEOUT_SECONDS),
        # Safe to retry: every call carries an idempotency key.
        max_network_retries=2,
    )


def _signed_at(header: str | None) -> int | None:
    for item in (header or "").split(","):
        key, _, value = item.partition("=")
        if key.strip() == "t" and value.strip().isdigit():
            return int(value)
    return None


class StripeProvider:
    name = Payment.Provider.STRIPE

    def start(self, *, payment: Payment) -> Started:
        try:
            intent = stripe_client().v1.payment_intents.create(
                params={
                    "amount": payment.amount,
                    "currency": payment.currency,
                    "automatic_payment_methods": {"enabled": True},
                    "description": f"Tombola wallet top-up {payment.reference}",
                    "metadata": {METADATA_REFERENCE: payment.reference,
                                 "tombola_user": str(payment.user_id)},
                },
                options={"idempotency_key": f"tombola-payment-{payment.reference}"},
            )
        except stripe.StripeError as exc:
            log.warning("stripe: creating the intent of %s failed: %s", payment.reference, exc)
            raise PaymentProviderUnavailable() from exc
        return Started(provider_id=intent.id, next_action={
            "type": "stripe_payment",
            "payment_intent": intent.id,
            "client_secret": intent.client_secret,
            "detail": "Confirm the payment with Stripe.js or a Stripe SDK using the client "
                      "secret; the wallet is credited when Stripe tells us it succeeded.",
        })

    def verify_notification(self, *, body: bytes, headers: Mapping[str, str]) -> Notification:
        header = headers.get(SIGNATURE_HEADER)
        tolerance = settings.STRIPE_WEBHOOK_TOLERANCE_SECONDS
        try:
            event = stripe.Webhook.construct_event(
                body, header, settings.STRIPE_WEBHOOK_SECRET, tolerance=tolerance
            )
        except (stripe.SignatureVerificationError, ValueError, UnicodeDecodeError) as exc:
            raise InvalidWebhookSignature() from exc
        # construct_event refuses old timestamps only; one from the future is no better
        # (a clock far off, or a signature made ahead to be replayed later).
        signed_at = _signed_at(header)
        if signed_at is None or signed_at > time.time() + tolerance:
            raise InvalidWebhookSignature()
        if not event.type.startswith("payment_intent."):
            return Notification(provider_id="", outcome=None, event_id=event.id,
                                event_type=event.type)
        intent = event.data.object.to_dict()  # a plain dict, nested dicts included
        error = intent.get("last_payment_error") or {}
        return Notification(
            provider_id=intent["id"],
            outcome=OUTCOMES.get(event.type),
            event_id=event.id,
            event_type=event.type,
            amount=intent.get("amount_received") if event.type.endswith("succeeded")
            else intent.get("amount"),
            currency=intent.get("currency") or "",
            reference=(intent.get("metadata") or {}).get(METADATA_REFERENCE, ""),
            failure_reason=(error.get("message") or error.get("code") or "")[:255],
        )

    def refund(self, *, payment: Payment) -> Refunded:
        try:
            refund = stripe_client().v1.refunds.create(
                params={"payment_intent": payment.provider_id, "amount": payment.amount,
                        "metadata": {METADATA_REFERENCE: payment.reference}},
                options={"idempotency_key": f"tombola-refund-{payment.reference}"},
            )
        except stripe.StripeError as exc:
            log.warning("stripe: refunding %s failed: %s", payment.reference, exc)
            raise PaymentProviderUnavailable() from exc
        if refund.status in ("failed", "canceled"):
            raise PaymentProviderUnavailable(f"Stripe refused the refund ({refund.status}).")
        return Refunded(refund_id=refund.id, status=Payment.Status.REFUNDED)
