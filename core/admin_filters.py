"""Admin list filters for the waitlist (add to UserAdmin.list_filter)."""

from django.contrib import admin
from django.db.models import Q

# (parameter value, label, filter) — counted referrals in ranges.
REFERRAL_RANGES = [
    ("0", "none", Q(referral_count=0)),
    ("1-4", "1 to 4", Q(referral_count__gte=1, referral_count__lte=4)),
    ("5-19", "5 to 19", Q(referral_count__gte=5, referral_count__lte=19)),
    ("20+", "20 or more", Q(referral_count__gte=20)),
]


class ReferralCountFilter(admin.SimpleListFilter):
    title = "counted referrals"
    parameter_name = "referrals"

    def lookups(self, request, model_admin):
        return [(value, label) for value, label, _ in REFERRAL_RANGES]

    def queryset(self, request, queryset):
        for value, _, condition in REFERRAL_RANGES:
            if self.value() == value:
                return queryset.filter(condition)
        return queryset
