"""The waiting lists' admin pages (imported by ticketing/admin.py, which Django discovers).

Per event: the offer time (changed through waiting_list_configure, audited) and the
figures staff follow (size, offers out, conversions, expired offers, leavers), all
counted in the list's one query. Entries are read-only (ticketing/admin.py): they
change through the buyers' API and the offers job.
"""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Count, Q

from ticketing.models import WaitingList
from ticketing.services.waiting_list import waiting_list_configure

# entry status -> the count's annotation (and column) name
FIGURES = {"waiting": "waiting", "offered": "offers_out", "converted": "converted",
           "expired": "expired", "left": "left"}
FIGURE_FIELDS = list(FIGURES.values())


def _figure(annotation: str, label: str):
    """A list column showing one of get_queryset's counts."""
    @admin.display(description=label, ordering=annotation)
    def column(self, obj) -> int:
        return getattr(obj, annotation)

    return column


@admin.register(WaitingList)
class WaitingListAdmin(admin.ModelAdmin):
    list_display = ["event", "offer_seconds", *FIGURE_FIELDS]
    list_select_related = ["event"]
    search_fields = ["event__title"]
    fields = ["event", "offer_seconds", *FIGURE_FIELDS]
    readonly_fields = ["event", *FIGURE_FIELDS]

    waiting = _figure("waiting", "size")
    offers_out = _figure("offers_out", "offers out")
    converted = _figure("converted", "conversions")
    expired = _figure("expired", "offers expired")
    left = _figure("left", "left")

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(**{
            name: Count("event__waiting_entries",
                        filter=Q(event__waiting_entries__status=status))
            for status, name in FIGURES.items()})

    def has_add_permission(self, request, obj=None):
        return False  # a list starts with its first buyer (or PUT .../waiting-list/staff/)

    def save_model(self, request, obj, form, change):
        waiting_list_configure(event=obj.event, offer_seconds=obj.offer_seconds,
                               actor=request.user, source="admin")
