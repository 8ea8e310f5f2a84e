"""Payments over HTTP: the provider's webhook, the staff's list, confirm and refund, and
the buyer's own list (GET /api/accounts/me/payments/).

A buyer starts a payment with POST /api/wallet/top-up/ (ticketing/views.py).
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import permissions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.permissions import StaffModelPermission
from core.schema import errors
from ticketing import filters
from ticketing import serializers as s
from ticketing.models import Payment
from ticketing.payments.stripe_provider import SIGNATURE_HEADER
from ticketing.services import payments
from ticketing.views import PaginatedListView


class WebhookReceived(serializers.Serializer):
    received = serializers.BooleanField()
    payment = serializers.CharField(allow_null=True,
                                    help_text="Our reference of the payment concerned, if any.")


class StripeWebhookView(APIView):
    # Stripe authenticates with its signature over the raw body, nothing else.
    authentication_classes: list = []
    permission_classes = [permissions.AllowAny]

    @extend_schema(
        request={"application/json": OpenApiTypes.OBJECT},
        parameters=[OpenApiParameter(SIGNATURE_HEADER, str, OpenApiParameter.HEADER,
                                     required=False, description="Stripe's `t=...,v1=...`.")],
        responses={200: WebhookReceived, **errors(
            e400="invalid_signature: not signed with this endpoint's secret, or signed "
                 "longer ago than the replay window (STRIPE_WEBHOOK_TOLERANCE_SECONDS)")},
        auth=[],
    )
    def post(self, request: Request) -> Response:
        """Receive Stripe's webhook.

        Stripe's events about our PaymentIntents, each signed with the endpoint's secret
        (`Stripe-Signature`, checked over the raw body, with a replay window).
        `payment_intent.succeeded` credits the payment's wallet exactly once, however often
        it is delivered; `payment_intent.payment_failed` and `payment_intent.canceled` mark
        the payment failed; other events are acknowledged and ignored."""
        payment = payments.payment_notification_handle(
            provider=Payment.Provider.STRIPE, body=request.body, headers=request.headers)
        return Response({"received": True, "payment": payment and payment.reference})


class PaymentListView(PaginatedListView):
    operation_docs = {
        "GET": """List payments (staff).

        Every payment into a wallet, newest first, with its provider's id: filter by
        `status`, `provider`, `reference` (a bank transfer's reference) and `user`.""",
    }
    permission_classes = [StaffModelPermission]
    staff_permissions = {"GET": ("ticketing.view_payment",)}
    serializer_class = s.StaffPaymentOutput
    filterset_class = filters.PaymentFilters

    def get_queryset(self):
        return Payment.objects.all()


class MyPaymentListView(PaginatedListView):
    operation_docs = {
        "GET": """List my payments.

        My top-ups' payments, newest first: provider, reference (a bank transfer's is
        what to write on it), amount, status and refunds. Filter by `status`,
        `provider` and date.""",
    }
    serializer_class = s.PaymentOutput
    filterset_class = filters.MyPaymentFilters

    def get_queryset(self):
        return Payment.objects.filter(user=self.request.user)


class PaymentConfirmView(APIView):
    permission_classes = [StaffModelPermission]
    staff_permissions = {"POST": ("ticketing.confirm_payment",)}

    @extend_schema(request=None, responses={200: s.StaffPaymentOutput, **errors(
        e409="payment_not_manual: only bank transfers are confirmed by staff; "
             "payment_not_pending: confirmed, failed or refunded already")})
    def post(self, request: Request, pk: int) -> Response:
        """Confirm a bank transfer arrived (staff).

        The pending bank-transfer payment succeeds and its wallet is credited, once; the
        ledger row and the audit entry name the staff account."""
        payment = payments.payment_confirm_received(payment_id=pk, actor=request.user,
                                                    source="api")
        return Response(s.StaffPaymentOutput(payment).data)


class PaymentRefundView(APIView):
    permission_classes = [StaffModelPermission]
    staff_permissions = {"POST": ("ticketing.refund_payment",)}

    @extend_schema(request=None, responses={200: s.StaffPaymentOutput, **errors(
        e402="insufficient_funds: the wallet holds less than the payment (with `balance`, "
             "`total`); nothing was refunded",
        e409="payment_not_refundable: not a succeeded payment (pending, failed, refunded)",
        e503="payment_provider_unavailable: Stripe refused or could not be reached; "
             "nothing changed")})
    def post(self, request: Request, pk: int) -> Response:
        """Refund a payment to where it came from (staff).

        Debits the wallet by the payment's amount and, in the same transaction, sends the
        money back: Stripe refunds the card (`refunded`); a bank transfer becomes
        `payout_due` until staff transfer it back and mark it paid out in the admin."""
        payment = payments.payment_refund(payment_id=pk, actor=request.user, source="api")
        return Response(s.StaffPaymentOutput(payment).data, status=status.HTTP_200_OK)
