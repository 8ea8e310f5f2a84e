"""Payments in the admin: read-only rows; staff confirm bank transfers, refund payments
and mark payouts done through actions that call the payment services (audited, each
guarded by its model permission)."""

from __future__ import annotations

from django.contrib import admin, messages

from core.errors import DomainError
from ticketing.models import Payment
from ticketing.services.payments import (
    payment_confirm_received,
    payment_payout_mark_done,
    payment_refund,
)


@admin.register(Payment)
class PaymentAdmin(admin.ModelAdmin):
    list_display = ["reference", "user", "provider", "amount", "currency", "status",
                    "provider_id", "created_at", "succeeded_at"]
    list_filter = ["status", "provider"]
    search_fields = ["reference", "provider_id", "user__email"]
    list_select_related = ["user"]
    readonly_fields = [f.name for f in Payment._meta.fields]
    actions = ["confirm_received", "refund_to_origin", "mark_paid_out"]

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_confirm_permission(self, request) -> bool:
        return request.user.has_perm("ticketing.confirm_payment")

    def has_refund_permission(self, request) -> bool:
        return request.user.has_perm("ticketing.refund_payment")

    def _each(self, request, queryset, service, done: str) -> None:
        ok, refused = [], []
        for payment in queryset.order_by("pk"):
            try:
                service(payment_id=payment.pk, actor=request.user, source="admin")
                ok.append(payment.reference)
            except DomainError as exc:
                refused.append(f"{payment.reference}: {exc.detail}")
        if ok:
            self.message_user(request, f"{done}: {', '.join(ok)}.", messages.SUCCESS)
        for line in refused:
            self.message_user(request, line, messages.ERROR)

    @admin.action(description="Confirm the bank transfer arrived (credits the wallet)",
                  permissions=["confirm"])
    def confirm_received(self, request, queryset):
        self._each(request, queryset, payment_confirm_received, "Confirmed and credited")

    @admin.action(description="Refund to where the money came from (debits the wallet)",
                  permissions=["refund"])
    def refund_to_origin(self, request, queryset):
        self._each(request, queryset, payment_refund, "Refunded")

    @admin.action(description="Mark the bank payout as transferred", permissions=["refund"])
    def mark_paid_out(self, request, queryset):
        self._each(request, queryset, payment_payout_mark_done, "Marked paid out")
