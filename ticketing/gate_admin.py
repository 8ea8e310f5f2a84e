"""Gates in the admin (README "Running the gates"): gates with the sections they admit and
their figures; check-ins, offline uploads and conflicts read-only, conflicts resolved by an
action that calls the gate service."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html

from ticketing.admin import ReadOnlyAdmin
from ticketing.models import Gate, OfflineScan, ScanConflict, TicketRedemption
from ticketing.services.gates import scan_conflict_resolve


class GateForm(forms.ModelForm):
    class Meta:
        model = Gate
        fields = ["event", "name", "sections"]

    def clean(self):
        data = super().clean()
        event, sections = data.get("event"), data.get("sections")
        if event is not None and sections:
            foreign = [s.name for s in sections if s.venue_id != event.venue_id]
            if foreign:
                raise forms.ValidationError(
                    f"Not sections of the event's venue: {', '.join(foreign)}.")
        return data


@admin.register(Gate)
class GateAdmin(admin.ModelAdmin):
    form = GateForm
    list_display = ["name", "event", "admits", "scanned", "check_in_list"]
    list_filter = ["event"]
    search_fields = ["name", "event__title"]
    list_select_related = ["event"]
    filter_horizontal = ["sections"]
    readonly_fields = ["scanned", "created_at"]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("sections")

    @admin.display(description="Admits")
    def admits(self, gate: Gate) -> str:
        return ", ".join(s.name for s in gate.sections.all()) or "every section"

    @admin.display(description="Check-in list")
    def check_in_list(self, gate: Gate) -> str:
        url = reverse("admin:ticketing_ticketredemption_changelist") + f"?gate__id__exact={gate.pk}"
        return format_html('<a href="{}">entries</a>', url)

    def has_delete_permission(self, request, obj=None):
        # A gate that let people in keeps its rows (their entries name it).
        return super().has_delete_permission(request, obj) and not (obj and obj.scanned)


@admin.register(TicketRedemption)
class TicketRedemptionAdmin(ReadOnlyAdmin):
    list_display = ["ticket", "gate", "scanned_at", "source", "scanned_by"]
    list_filter = ["source", "gate__event", "gate"]
    search_fields = ["ticket__id", "ticket__user__email"]
    list_select_related = ["ticket__seat__row__section", "gate", "scanned_by"]
    date_hierarchy = "scanned_at"


@admin.register(OfflineScan)
class OfflineScanAdmin(ReadOnlyAdmin):
    list_display = ["scan_id", "gate", "ticket_id", "scanned_at", "result", "uploaded_at"]
    list_filter = ["result", "gate__event", "gate"]
    search_fields = ["scan_id", "ticket__id"]
    list_select_related = ["gate"]


class ResolvedFilter(admin.SimpleListFilter):
    title = "resolved"
    parameter_name = "resolved"

    def lookups(self, request, model_admin):
        return [("no", "Open"), ("yes", "Resolved")]

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(resolved_at__isnull=self.value() == "no")
        return queryset


@admin.register(ScanConflict)
class ScanConflictAdmin(ReadOnlyAdmin):
    list_display = ["ticket", "kept_gate", "kept_scanned_at", "other_gate", "other_scanned_at",
                    "detected_at", "resolved_at"]
    list_filter = [ResolvedFilter, "event"]
    list_select_related = ["ticket__seat__row__section", "kept_gate", "other_gate"]
    actions = ["resolve"]

    def has_resolve_permission(self, request) -> bool:
        return request.user.has_perm("ticketing.change_scanconflict")

    @admin.action(description="Mark resolved (looked into)", permissions=["resolve"])
    def resolve(self, request, queryset):
        conflicts = list(queryset.select_related("event").order_by("pk"))
        for conflict in conflicts:
            scan_conflict_resolve(event=conflict.event, conflict_id=conflict.pk,
                                  actor=request.user)
        self.message_user(request, f"{len(conflicts)} conflict(s) resolved.", messages.SUCCESS)
