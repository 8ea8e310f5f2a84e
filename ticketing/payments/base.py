"""The payment-provider interface the payment services call (ticketing/services/payments.py)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from django.conf import settings

from ticketing.models import Payment


@dataclass(frozen=True)
class Started:
    """The provider's answer to a new payment."""

    provider_id: str
    # What the client does next, returned as is: {"type": "stripe_payment", ...},
    # {"type": "bank_transfer", ...} or {"type": "none"}.
    next_action: dict[str, Any]
    # The money is in already (demo): the service credits the wallet at once.
    succeeded: bool = False


@dataclass(frozen=True)
class Notification:
    """A verified message from the provider about one payment."""

    provider_id: str
    outcome: Literal["succeeded", "failed"] | None  # None: nothing we act on
    event_id: str = ""
    event_type: str = ""
    amount: int | None = None
    currency: str = ""
    # Our reference, as we gave it to the provider (Stripe: the intent's metadata).
    reference: str = ""
    failure_reason: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Refunded:
    refund_id: str
    # Payment.Status.REFUNDED (the provider sent it back) or PAYOUT_DUE (staff must).
    status: str


class PaymentProvider(Protocol):
    """One way money reaches a wallet. Implementations talk to the provider only;
    they never write our rows (the services do, around these calls)."""

    name: str

    def start(self, *, payment: Payment) -> Started:
        """Create the payment at the provider for `payment.amount` (idempotent per
        `payment.reference`). Raises PaymentProviderUnavailable, DemoPaymentsRefused."""
        ...

    def verify_notification(self, *, body: bytes, headers: Mapping[str, str]) -> Notification:
        """Check a notification's authenticity and read it. Raises InvalidWebhookSignature,
        NotificationNotSupported."""
        ...

    def refund(self, *, payment: Payment) -> Refunded:
        """Send the whole payment back to where it came from (idempotent per payment).
        Raises PaymentProviderUnavailable."""
        ...


def payment_provider(name: str | None = None) -> PaymentProvider:
    """The provider called `name`, or the configured one (settings.PAYMENT_PROVIDER)."""
    from ticketing.payments.demo import DemoProvider
    from ticketing.payments.manual import ManualProvider
    from ticketing.payments.stripe_provider import StripeProvider

    providers = {"stripe": StripeProvider, "manual": ManualProvider, "demo": DemoProvider}
    return providers[name or settings.PAYMENT_PROVIDER]()
