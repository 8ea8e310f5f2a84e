import contextlib
import math

from django import forms
from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.db.models import Q
from django.http import HttpResponse
from django.urls import reverse
from django.utils.html import format_html

from core.emails import email_canonical, email_has_invisible
from core.errors import DomainError, EmailTaken, InvalidEmail
from core.lockout import login_failed, login_locked, login_succeeded
from core.models import (
    AuditEntry,
    DeliveryAttempt,
    Event,
    PhoneVerification,
    User,
    Venue,
    WebhookDelivery,
    WebhookEndpoint,
    normalize_email,
)
from core.phones import normalize_phone
from core.services.events import (
    EDITABLE_FIELDS,
    checkin_code_required_default,
    event_update,
)
from core.services.webhooks import (
    webhook_delivery_retry,
    webhook_endpoint_create,
    webhook_endpoint_delete,
    webhook_endpoint_update,
)

# "/" is the public landing page (core/pages.py: join the waitlist, reset a password):
# the admin's "View site" link goes there.
admin.site.site_url = "/"


# --- the admin login: throttled like the API login, and locked after failures ----------


class LockoutAuthenticationForm(AdminAuthenticationForm):
    """The admin's sign-in form, refusing while the account or address is locked out
    (core/lockout.py) and counting wrong passwords."""

    error_messages = {
        **AdminAuthenticationForm.error_messages,
        "locked_out": "Too many failed sign-ins for this account or from this address. "
                      "Try again later.",
    }

    def clean(self):
        from core.throttles import ScopedThrottle

        username = self.cleaned_data.get("username")
        account = email_canonical(username) if username else None
        address = ScopedThrottle().get_ident(self.request) if self.request else None
        if login_locked(account=account, address=address, source="admin"):
            raise forms.ValidationError(self.error_messages["locked_out"], code="locked_out")
        try:
            cleaned = super().clean()
        except forms.ValidationError:
            if self.user_cache is None and self.cleaned_data.get("password"):
                login_failed(account=account, address=address, source="admin")
            raise
        login_succeeded(account=account)
        return cleaned


class _AdminLoginScope:
    throttle_scope = "login"  # the API login's scope and rate: one budget per address


def _throttled(login_view):
    def login(request, extra_context=None):
        from core.throttles import ScopedThrottle

        if request.method == "POST":
            throttle = ScopedThrottle()
            if not throttle.allow_request(request, _AdminLoginScope):
                wait = math.ceil(throttle.wait())
                return HttpResponse(
                    f"Too many sign-in attempts; try again in {wait} seconds.\n",
                    status=429, content_type="text/plain", headers={"Retry-After": str(wait)})
        return login_view(request, extra_context)

    return login


admin.site.login_form = LockoutAuthenticationForm
admin.site.login = _throttled(admin.site.login)


class NormalizedEmailMixin:
    """Compare and store the email as the API does, so a case variant is "taken", not a 500."""

    def clean_email(self):
        raw = self.cleaned_data["email"]
        if email_has_invisible(raw):
            raise forms.ValidationError(InvalidEmail.detail, code=InvalidEmail.code)
        email = normalize_email(raw)
        others = User.objects.filter(email_canonical=email_canonical(email))
        if self.instance.pk is not None:
            others = others.exclude(pk=self.instance.pk)
        if others.exists():  # the same address written another way (core/emails.py)
            raise forms.ValidationError(EmailTaken.detail, code=EmailTaken.code)
        return email


class UserCreationForm(NormalizedEmailMixin, AdminUserCreationForm):
    class Meta:
        model = User
        fields = ("email",)


class UserEditForm(NormalizedEmailMixin, UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"

    def clean_phone(self):
        phone = self.cleaned_data.get("phone")
        if not phone:
            return None
        try:
            return normalize_phone(phone)
        except DomainError as exc:
            raise forms.ValidationError(str(exc.detail)) from None


class VerifiedFilter(admin.SimpleListFilter):
    """Verified means a phone or an email was confirmed (what counts a referral)."""

    title = "verified"
    parameter_name = "verified"

    def lookups(self, request, model_admin):
        return [("yes", "Verified (phone or email)"), ("phone", "Phone verified"),
                ("no", "Not verified")]

    def queryset(self, request, queryset):
        verified = Q(phone_verified_at__isnull=False) | Q(email_verified_at__isnull=False)
        match self.value():
            case "yes":
                return queryset.filter(verified)
            case "phone":
                return queryset.filter(phone_verified_at__isnull=False)
            case "no":
                return queryset.exclude(verified)
        return queryset


class ReferralCountFilter(admin.SimpleListFilter):
    title = "referral count"
    parameter_name = "referrals"
    BUCKETS = {"0": (0, 0), "1-4": (1, 4), "5-19": (5, 19), "20+": (20, None)}

    def lookups(self, request, model_admin):
        return [(key, key) for key in self.BUCKETS]

    def queryset(self, request, queryset):
        if self.value() not in self.BUCKETS:
            return queryset
        low, high = self.BUCKETS[self.value()]
        queryset = queryset.filter(referral_count__gte=low)
        return queryset if high is None else queryset.filter(referral_count__lte=high)


class PhoneSearchMixin:
    """Search also finds a phone written any way (+49 151 ..., 0151 ... with a region)."""

    def get_search_results(self, request, queryset, search_term):
        results, may_have_duplicates = super().get_search_results(
            request, queryset, search_term
        )
        if search_term:
            with contextlib.suppress(DomainError):  # not a phone number: nothing to add
                results |= queryset.filter(phone=normalize_phone(search_term))
        return results, may_have_duplicates


@admin.register(User)
class UserAdmin(PhoneSearchMixin, DjangoUserAdmin):
    form = UserEditForm
    add_form = UserCreationForm
    ordering = ["-date_joined"]
    list_display = [
        "email", "first_name", "last_name", "phone", "phone_verified_at", "referral_code",
        "referral_count", "referees_link", "referred_by", "is_staff", "date_joined",
    ]
    list_select_related = ["referred_by"]
    list_filter = [VerifiedFilter, ReferralCountFilter, "is_staff", "is_active"]
    search_fields = ["email", "phone", "referral_code", "first_name", "last_name"]
    readonly_fields = ["referral_code", "referral_count", "referral_counted_at", "date_joined",
                       "last_login"]
    raw_id_fields = ["referred_by"]
    fieldsets = [
        (None, {"fields": ["email", "password"]}),
        ("Profile", {"fields": [
            "first_name", "last_name", "patronymic", "birthday", "address", "phone",
            "phone_verified_at", "email_verified_at",
        ]}),
        ("Referrals", {"fields": [
            "referral_code", "referred_by", "referral_count", "referral_counted_at",
        ]}),
        ("Permissions", {"fields": ["is_active", "is_staff", "is_superuser", "groups",
                                    "user_permissions"]}),
        ("Dates", {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [
        (None, {"classes": ["wide"], "fields": ["email", "usable_password", "password1",
                                                  "password2"]}),
    ]

    @admin.display(description="referees")
    def referees_link(self, obj: User):
        url = reverse("admin:core_user_changelist") + f"?referred_by__id__exact={obj.pk}"
        return format_html('<a href="{}">list</a>', url)


@admin.register(PhoneVerification)
class PhoneVerificationAdmin(PhoneSearchMixin, admin.ModelAdmin):
    """Read-only: codes are made and checked by core.services.phone_verification only."""

    list_display = ["phone", "user", "created_at", "expires_at", "attempts", "verified_at"]
    list_select_related = ["user"]
    search_fields = ["phone", "user__email"]
    list_filter = [("verified_at", admin.EmptyFieldListFilter)]
    raw_id_fields = ["user"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


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

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        if obj is None and "checkin_code_required" in form.base_fields:
            form.base_fields["checkin_code_required"].help_text = (
                "Left unticked, a new event at a venue requires the code all the same "
                "(the default); untick it after creating the event to turn it off.")
        return form

    def save_model(self, request, obj, form, change):
        if change:
            # The API's service: an edit publishes event.updated, and a status change
            # (back to draft) closes the sockets of viewers who may no longer see it.
            event_update(event=obj, fields={name: form.cleaned_data[name]
                                            for name in form.changed_data
                                            if name in EDITABLE_FIELDS})
            return
        if "checkin_code_required" not in form.changed_data:
            # The API's default (core.services.events): at a venue, the code is required.
            obj.checkin_code_required = checkin_code_required_default(obj.venue)
        super().save_model(request, obj, form, change)


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
    raw_id_fields = ["event"]
    readonly_fields = ["secret", "created_by"]

    # The same services as the API (audited); created_by is whoever adds it.
    def save_model(self, request, obj, form, change):
        fields = {name: form.cleaned_data[name] for name in ("url", "kinds", "is_active")
                  if name in form.cleaned_data}
        if change:
            changed = {name: value for name, value in fields.items() if name in form.changed_data}
            if changed or "event" in form.changed_data:
                if "event" in form.changed_data:
                    changed["event"] = form.cleaned_data["event"]
                webhook_endpoint_update(endpoint=obj, actor=request.user, **changed)
            return
        created = webhook_endpoint_create(event=form.cleaned_data["event"], actor=request.user,
                                          **fields)
        obj.pk = created.pk
        obj.refresh_from_db()

    def delete_model(self, request, obj):
        webhook_endpoint_delete(endpoint=obj, actor=request.user)


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
        count = webhook_delivery_retry(delivery_ids=queryset.values_list("pk", flat=True),
                                       actor=request.user)
        self.message_user(request, f"{count} deliveries queued for another attempt.")
