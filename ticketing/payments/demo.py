"""Demo: the money is "in" at once. For `make run` and the demo data only: it refuses
to work with DEBUG off (and core.conf refuses to serve with it configured then)."""

from __future__ import annotations

from collections.abc import Mapping

from django.conf import settings

from ticketing.errors import DemoPaymentsRefused, NotificationNotSupported
from ticketing.models import Payment
from ticketing.payments.base import Notification, Refunded, Started


class DemoProvider:
    name = Payment.Provider.DEMO

    def start(self, *, payment: Payment) -> Started:
        # Checked at every call, not only at start-up: settings can differ per process
        # (a shell, a management command), and this is the one that mints money.
        if not settings.DEBUG:
            raise DemoPaymentsRefused()
        return Started(provider_id=f"demo_{payment.reference}", next_action={"type": "none"},
                       succeeded=True)

    def verify_notification(self, *, body: bytes, headers: Mapping[str, str]) -> Notification:
        raise NotificationNotSupported()

    def refund(self, *, payment: Payment) -> Refunded:
        return Refunded(refund_id=f"demo_refund_{payment.reference}",
                        status=Payment.Status.REFUNDED)
