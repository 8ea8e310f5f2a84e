from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from core.models import Event, PhoneVerification, User, Venue


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
