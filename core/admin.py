from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from core.models import (
    AuditEntry,
    DeliveryAttempt,
    Event,
    PhoneVerification,
    User,
    Venue,
    WebhookDelivery,
    WebhookEndpoint,
)


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    ordering = ["-date_joined"]
    list_display = [
        "email", "first_name", "last_name", "phone", "referral_code", "referral_count",
        "phone_verified_at", "is_staff", "date_joined",
    ]
    list_filter = ["is_staff", "is_active", ("phone_verified_at", admin.EmptyFieldListFilter)]
    search_fields = ["email", "phone", "referral_code", "first_name", "last_name"]
    readonly_fields = ["referral_code", "referral_count", "date_joined", "last_login"]
    raw_id_fields = ["referred_by"]
    fieldsets = [
        (None, {"fields": ["email", "password"]}),
        ("Profile", {"fields": [
            "first_name", "last_name", "patronymic", "birthday", "address", "phone",
            "phone_verified_at", "email_verified_at",
        ]}),
        ("Referrals", {"fields": ["referral_code", "referred_by", "referral_count"]}),
        ("Permissions", {"fields": ["is_active", "is_staff", "is_superuser", "groups"]}),
        ("Dates", {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [(None, {"classes": ["wide"], "fields": ["email", "password1", "password2"]})]


@admin.register(PhoneVerification)
class PhoneVerificationAdmin(admin.ModelAdmin):
    list_display = ["phone", "user", "created_at", "expires_at", "attempts", "verified_at"]
    search_fields = ["phone", "user__email"]
    readonly_fields = ["code_hash"]
    list_filter = [("verified_at", admin.EmptyFieldListFilter)]


@admin.register(Venue)
class VenueAdmin(admin.ModelAdmin):
    list_display = ["name", "address", "created_at"]
    search_fields = ["name", "address"]


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ["title", "status", "starts_at", "ends_at", "venue"]
    list_filter = ["status", "venue"]
    search_fields = ["title"]
    date_hierarchy = "starts_at"


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    """Read-only: the log is append-only, and the chain is checked by `manage.py verify_audit`."""

    list_display = ["chain_seq", "created_at", "action", "object_type", "object_id", "actor_id"]
    list_filter = ["action", "object_type"]
    search_fields = ["object_id", "action"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class DeliveryAttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    extra = 0
    can_delete = False
    fields = ["at", "status_code", "error", "duration_ms", "succeeded"]
    readonly_fields = fields


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    list_display = ["url", "event", "kinds", "is_active", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["url", "event__title"]
    raw_id_fields = ["event", "created_by"]
    readonly_fields = ["secret"]


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = [
        "id", "kind", "endpoint", "status", "attempts", "next_attempt_at", "delivered_at",
    ]
    list_filter = ["status", "kind"]
    search_fields = ["endpoint__url"]
    readonly_fields = ["endpoint", "kind", "payload", "attempts", "created_at", "delivered_at"]
    inlines = [DeliveryAttemptInline]
    actions = ["retry_now"]

    @admin.action(description="Retry selected deliveries now")
    def retry_now(self, request, queryset):
        from django.utils import timezone

        count = queryset.exclude(status=WebhookDelivery.Status.SUCCEEDED).update(
            status=WebhookDelivery.Status.PENDING, next_attempt_at=timezone.now()
        )
        self.message_user(request, f"{count} deliveries queued for another attempt.")
