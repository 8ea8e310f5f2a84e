"""Bank transfer: the buyer transfers the amount with the payment's reference; staff
confirm receipt (admin action or POST /api/payments/{id}/confirm/) and only then is the
wallet credited. A refund marks the money to be paid out by hand."""

from __future__ import annotations

from collections.abc import Mapping

from django.conf import settings

from ticketing.errors import NotificationNotSupported
from ticketing.models import Payment
from ticketing.payments.base import Notification, Refunded, Started


class ManualProvider:
    name = Payment.Provider.MANUAL

    def start(self, *, payment: Payment) -> Started:
        return Started(provider_id=payment.reference, next_action={
            "type": "bank_transfer",
            "reference": payment.reference,
            "amount": payment.amount,
            "currency": payment.currency,
            "beneficiary": settings.BANK_TRANSFER_BENEFICIARY,
            "iban": settings.BANK_TRANSFER_IBAN,
            "bic": settings.BANK_TRANSFER_BIC,
            "detail": "Transfer the amount with the reference as the payment's description; "
                      "the wallet is credited when staff see the money arrive.",
        })

    def verify_notification(self, *, body: bytes, headers: Mapping[str, str]) -> Notification:
        raise NotificationNotSupported()

    def refund(self, *, payment: Payment) -> Refunded:
        return Refunded(refund_id="", status=Payment.Status.PAYOUT_DUE)
