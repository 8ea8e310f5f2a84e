"""Admin for live models. Actions call the same services as the API."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from core.admin import EventAdmin as CoreEventAdmin
from core.errors import DomainError
from core.models import Event
from live import exports, imports, notifications, services
from live.models import CheckIn, Draw, Entry, Prize, ScreenKey, Winner
from live.streams import draw_state, publish_draw


def _each(modeladmin, request, queryset, action, done: str) -> None:
    """Run `action(obj)` per selected object; report successes and domain refusals."""
    ok = 0
    for obj in queryset:
        try:
            action(obj)
            ok += 1
        except DomainError as exc:
            modeladmin.message_user(request, f"{obj}: {exc.detail}", messages.WARNING)
    if ok:
        modeladmin.message_user(request, f"{done}: {ok}.", messages.SUCCESS)


class WinnersFileForm(forms.Form):
    file = forms.FileField(help_text="CSV: participant,prize")


class PrizeInline(admin.TabularInline):
    model = Prize
    extra = 1


@admin.register(Draw)
class DrawAdmin(admin.ModelAdmin):
    list_display = ["title", "event", "kind", "status", "eligibility", "scheduled_at",
                    "entries_count", "performed_at"]
    list_filter = ["kind", "status", "eligibility", "recurrence"]
    search_fields = ["title", "event__title"]
    raw_id_fields = ["event", "previous"]
    readonly_fields = ["status", "algorithm", "seed_commitment", "entries_digest",
                       "entries_count", "closed_at", "performed_at", "performed_by",
                       "winning_numbers"]
    inlines = [PrizeInline]
    actions = ["perform_draws", "redraw_unclaimed", "import_winners", "notify_winners",
               "export_participants_csv", "export_participants_xlsx"]

    def get_urls(self):
        own = [path("<int:draw_id>/import-winners/",
                    self.admin_site.admin_view(self.import_winners_view),
                    name="live_draw_import_winners")]
        return own + super().get_urls()

    def import_winners_view(self, request, draw_id: int):
        """Upload the operator's winners file; the same service as `manage.py import_winners`."""
        draw = get_object_or_404(Draw, pk=draw_id)
        if not self.has_change_permission(request, draw):
            raise PermissionDenied
        form = WinnersFileForm(request.POST or None, request.FILES or None)
        errors: list[dict] = []
        if request.method == "POST" and form.is_valid():
            try:
                rows = imports.read_winners_csv(form.cleaned_data["file"].read())
                result = imports.winners_import(draw=draw, rows=rows, actor=request.user)
            except imports.InvalidWinnersFile as exc:
                errors = exc.extra.get("errors", [])
                self.message_user(request, exc.detail, messages.ERROR)
            except UnicodeDecodeError:
                self.message_user(request, "The file is not UTF-8 text.", messages.ERROR)
            except DomainError as exc:
                self.message_user(request, exc.detail, messages.ERROR)
            else:
                text = (f"Imported {result.winners} winner(s)." if result.imported else
                        f"Already imported: these {result.winners} winner(s); nothing changed.")
                self.message_user(request, text, messages.SUCCESS)
                return redirect(reverse("admin:live_draw_change", args=[draw.pk]))
        context = {**self.admin_site.each_context(request), "opts": self.model._meta,
                   "draw": draw, "form": form, "errors": errors, "title": "Import winners"}
        return TemplateResponse(request, "admin/live/import_winners.html", context)

    @admin.action(description="Import winners from the operator's file (one external draw)")
    def import_winners(self, request, queryset):
        draws = list(queryset[:2])
        if len(draws) != 1 or draws[0].kind != Draw.Kind.EXTERNAL:
            self.message_user(request, "Select exactly one external draw.", messages.WARNING)
            return None
        return redirect(reverse("admin:live_draw_import_winners", args=[draws[0].pk]))

    def save_model(self, request, obj, form, change):
        if not change:  # a new draw commits to a fresh seed, like the API's
            from live import fairness

            obj.seed = fairness.new_seed()
            obj.seed_commitment = fairness.commitment(obj.seed)
            obj.algorithm = fairness.ALGORITHM
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        if not change:  # announce it like the API does, prizes included
            publish_draw(form.instance, "draw.created", {"draw": draw_state(form.instance)})

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.status != Draw.Status.OPEN:  # frozen by its digest
            return [f.name for f in obj._meta.fields]
        return self.readonly_fields

    @admin.action(description="Perform selected draws now")
    def perform_draws(self, request, queryset):
        _each(self, request, queryset.exclude(kind=Draw.Kind.EXTERNAL),
              lambda d: services.draw_perform(draw=d, actor=f"admin:{request.user.pk}"),
              "Performed")

    @admin.action(description="Notify winners (SMS to a verified phone, else email)")
    def notify_winners(self, request, queryset):
        for draw in queryset:
            try:
                report = notifications.winners_notify(draw=draw)
            except DomainError as exc:
                self.message_user(request, f"{draw}: {exc.detail}", messages.WARNING)
                continue
            level = messages.WARNING if report.failed else messages.SUCCESS
            self.message_user(request, f"{draw}: {report.sent} sent, {report.failed} failed, "
                                       f"{report.skipped} already notified.", level)

    def _export(self, request, queryset, fmt: str):
        draws = list(queryset[:2])
        if len(draws) != 1:
            self.message_user(request, "Select exactly one draw to export.", messages.WARNING)
            return None
        return exports.participants_export(draw=draws[0], fmt=fmt)

    @admin.action(description="Export participants (CSV, one draw)")
    def export_participants_csv(self, request, queryset):
        return self._export(request, queryset, "csv")

    @admin.action(description="Export participants (Excel, one draw)")
    def export_participants_xlsx(self, request, queryset):
        return self._export(request, queryset, "xlsx")

    @admin.action(description="Redraw prizes unclaimed after their window")
    def redraw_unclaimed(self, request, queryset):
        _each(self, request, queryset,
              lambda d: services.draw_redraw(draw=d, actor=f"admin:{request.user.pk}"),
              "Redrawn")


@admin.register(Entry)
class EntryAdmin(admin.ModelAdmin):
    list_display = ["id", "draw", "user", "ballot_no", "numbers", "created_at"]
    list_filter = ["draw__kind"]
    search_fields = ["user__email", "draw__title"]
    raw_id_fields = ["draw", "user"]


@admin.register(Winner)
class WinnerAdmin(admin.ModelAdmin):
    list_display = ["draw", "prize", "user", "round", "claim_deadline", "claimed_at",
                    "forfeited_at"]
    list_filter = ["round", ("claimed_at", admin.EmptyFieldListFilter)]
    search_fields = ["user__email", "draw__title", "prize__name"]
    raw_id_fields = ["draw", "prize", "entry", "user"]


@admin.register(CheckIn)
class CheckInAdmin(admin.ModelAdmin):
    list_display = ["event", "user", "nonce", "created_at"]
    list_filter = ["event"]
    search_fields = ["user__email", "event__title"]
    raw_id_fields = ["event", "user"]


@admin.register(ScreenKey)
class ScreenKeyAdmin(admin.ModelAdmin):
    list_display = ["event", "label", "created_by", "created_at", "revoked_at"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["label", "event__title"]
    readonly_fields = ["key_hash", "created_by", "created_at", "revoked_at"]
    actions = ["revoke"]

    def has_add_permission(self, request) -> bool:
        return False  # keys are issued from the event (the plain key is shown once)

    @admin.action(description="Revoke selected screen keys")
    def revoke(self, request, queryset):
        _each(self, request, queryset, lambda k: services.screen_key_revoke(screen_key=k),
              "Revoked")


admin.site.unregister(Event)


@admin.register(Event)
class EventAdmin(CoreEventAdmin):
    """core's event admin plus live's action: issue a venue screen key."""

    actions = ["issue_screen_key"]

    @admin.action(description="Issue a venue screen key")
    def issue_screen_key(self, request, queryset):
        for event in queryset:
            _, key = services.screen_key_issue(event=event, actor=request.user, label="admin")
            self.message_user(request, f"Screen key for {event} (shown once): {key}",
                              messages.SUCCESS)
