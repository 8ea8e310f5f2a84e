"""The waiting lists' admin pages (imported by ticketing/admin.py, which Django discovers).

Per event: the offer time (changed through waiting_list_configure, audited) and the
figures staff follow (size, offers out, conversions, expired offers, leavers), all
counted in the list's one query. Entries are read-only: they change through the
buyers' API and the offers job.
"""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Count, Q

from ticketing.models import WaitingList, WaitingListEntry
from ticketing.services.waiting_list import waiting_list_configure

# (entry status, annotation, column label)
FIGURES = (("waiting", "waiting", "size"), ("offered", "offers_out", "offers out"),
           ("converted", "converted", "conversions"), ("expired", "expired", "offers expired"),
           ("left", "left", "left"))
FIGURE_FIELDS = [name for _, name, _ in FIGURES]


@admin.register(WaitingList)
class WaitingListAdmin(admin.ModelAdmin):
    list_display = ["event", "offer_seconds", *FIGURE_FIELDS]
    list_select_related = ["event"]
    search_fields = ["event__title"]
    fields = ["event", "offer_seconds", *FIGURE_FIELDS]
    readonly_fields = ["event", *FIGURE_FIELDS]

    @admin.display(description="size", ordering="waiting")
    def waiting(self, obj) -> int:
        return obj.waiting

    @admin.display(description="offers out", ordering="offers_out")
    def offers_out(self, obj) -> int:
        return obj.offers_out

    @admin.display(description="conversions", ordering="converted")
    def converted(self, obj) -> int:
        return obj.converted

    @admin.display(description="offers expired", ordering="expired")
    def expired(self, obj) -> int:
        return obj.expired

    @admin.display(description="left", ordering="left")
    def left(self, obj) -> int:
        return obj.left

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(**{
            name: Count("event__waiting_entries",
                        filter=Q(event__waiting_entries__status=status))
            for status, name, _ in FIGURES})

    def has_add_permission(self, request, obj=None):
        return False  # a list starts with its first buyer (or PUT .../waiting-list/staff/)

    def save_model(self, request, obj, form, change):
        waiting_list_configure(event=obj.event, offer_seconds=obj.offer_seconds,
                               actor=request.user, source="admin")


@admin.register(WaitingListEntry)
class WaitingListEntryAdmin(admin.ModelAdmin):
    list_display = ["id", "event", "user", "section", "seats", "status", "created_at",
                    "offer_expires_at"]
    list_filter = ["status"]
    list_select_related = ["event", "user", "section"]
    search_fields = ["event__title", "user__email"]
    readonly_fields = [f.name for f in WaitingListEntry._meta.fields]

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
