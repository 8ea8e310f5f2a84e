"""Admin for live models. Actions call the same services as the API."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from core.errors import DomainError
from core.models import Event
from live import exports, forwarding, imports, notifications
from live.errors import InvalidWinnersFile
from live.models import (
    CheckIn,
    Draw,
    Entry,
    ForwardingBatch,
    OperatorEndpoint,
    Prize,
    ScreenKey,
    Winner,
    WinnerNotification,
)
from live.services.checkin import screen_key_issue, screen_key_revoke
from live.services.draws import draw_create, draw_update
from live.services.performing import draw_perform, draw_redraw


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


def _single(modeladmin, request, queryset, noun: str):
    """The one selected object of an action that works on one, or None (with a message)."""
    chosen = list(queryset[:2])
    if len(chosen) != 1:
        modeladmin.message_user(request, f"Select exactly one {noun}.", messages.WARNING)
        return None
    return chosen[0]


class WinnersFileForm(forms.Form):
    file = forms.FileField(help_text="CSV: participant,prize")


def _prize_rows(formsets) -> list[dict]:
    """The prizes the inline will leave, as draw_create/draw_update take them."""
    names = [f.name for f in Prize._meta.fields if f.name not in ("id", "draw")]
    return [{name: form.cleaned_data[name] for name in names}
            for formset in formsets for form in formset.forms
            if form.cleaned_data and not form.cleaned_data.get("DELETE")]


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
            except InvalidWinnersFile as exc:
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
        draw = _single(self, request, queryset.filter(kind=Draw.Kind.EXTERNAL), "external draw")
        return draw and redirect(reverse("admin:live_draw_import_winners", args=[draw.pk]))

    # Writes go through draw_create / draw_update (one path with the API): the freeze of
    # kind and numbers once there are entries, draw.created / draw.updated on the streams,
    # the audit entry. The draw and its prizes are one service call, made in save_related,
    # where the prize inline's rows are known; a refusal becomes a message, not a 500.

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except DomainError as exc:  # raised in save_related; the admin's atomic rolled back
            self.message_user(request, f"Not saved: {exc.detail}", messages.ERROR)
            return redirect(request.get_full_path())

    def save_model(self, request, obj, form, change):
        pass  # written with its prizes in save_related

    def save_related(self, request, form, formsets, change):
        prizes = _prize_rows(formsets) if any(f.has_changed() for f in formsets) else None
        for formset in formsets:  # read by construct_change_message; the service wrote them
            formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        if change:
            fields = {name: form.cleaned_data[name] for name in form.changed_data}
            if fields or prizes is not None:
                draw_update(draw=form.instance, actor=request.user, source="admin",
                            prizes=prizes, **fields)
            return
        fields = dict(form.cleaned_data)
        draw = draw_create(event=fields.pop("event"), prizes=prizes or [], actor=request.user,
                           source="admin", **fields)
        form.instance.pk = draw.pk  # the object the admin logs and redirects to
        form.instance.refresh_from_db()

    def has_delete_permission(self, request, obj=None):
        # Only while entries are open. Deleting a closed, awaiting_beacon or performed draw
        # would let whoever saw its beacon round (public seconds after the close) and
        # knows the seed discard an outcome they dislike and draw again. The per-object
        # check also guards the bulk delete action and an event's cascade.
        if obj is not None and obj.status != Draw.Status.OPEN:
            return False
        return super().has_delete_permission(request, obj)

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.status != Draw.Status.OPEN:  # frozen by its digest
            return [f.name for f in obj._meta.fields]
        return self.readonly_fields

    @admin.action(description="Perform selected draws now")
    def perform_draws(self, request, queryset):
        def perform(draw: Draw) -> None:
            result = draw_perform(draw=draw, actor=request.user, source="admin")
            if result.status == Draw.Status.AWAITING_BEACON:  # the scheduler finishes it
                self.message_user(request, f"{draw}: waiting for beacon round "
                                  f"{result.beacon_round}; performed once it is published.",
                                  messages.INFO)

        _each(self, request, queryset.exclude(kind=Draw.Kind.EXTERNAL), perform,
              "Performed or started")

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
        draw = _single(self, request, queryset, "draw to export")
        return draw and exports.participants_export(draw=draw, fmt=fmt)

    @admin.action(description="Export participants (CSV, one draw)")
    def export_participants_csv(self, request, queryset):
        return self._export(request, queryset, "csv")

    @admin.action(description="Export participants (Excel, one draw)")
    def export_participants_xlsx(self, request, queryset):
        return self._export(request, queryset, "xlsx")

    @admin.action(description="Redraw prizes unclaimed after their window")
    def redraw_unclaimed(self, request, queryset):
        _each(self, request, queryset,
              lambda d: draw_redraw(draw=d, actor=request.user, source="admin"),
              "Redrawn")


@admin.register(Entry)
class EntryAdmin(admin.ModelAdmin):
    list_display = ["id", "draw", "user", "position", "ballot_no", "numbers", "created_at",
                    "forwarded_at"]
    list_filter = ["draw__kind", ("forwarded_at", admin.EmptyFieldListFilter)]
    search_fields = ["user__email", "user__phone", "draw__title"]
    raw_id_fields = ["draw", "user"]
    readonly_fields = ["position", "forwarded_at"]
    list_select_related = ["draw", "user"]
    actions = ["forward_to_operator"]

    @admin.action(description="Forward selected participants to the operator")
    def forward_to_operator(self, request, queryset):
        by_event: dict = {}
        for entry_id, event_id in queryset.values_list("id", "draw__event_id"):
            by_event.setdefault(event_id, []).append(entry_id)
        for event in Event.objects.filter(pk__in=by_event):
            try:
                batch = forwarding.entries_forward(event=event, entry_ids=by_event[event.pk],
                                                   actor=request.user)
            except DomainError as exc:
                self.message_user(request, f"{event}: {exc.detail}", messages.WARNING)
            else:
                self.message_user(request, f"{event}: {len(by_event[event.pk])} participant(s) "
                                           f"queued for the operator (batch {batch.pk}).",
                                  messages.SUCCESS)


@admin.register(Winner)
class WinnerAdmin(admin.ModelAdmin):
    list_display = ["draw", "prize", "user", "round", "claim_deadline", "claimed_at",
                    "forfeited_at"]
    list_filter = ["round", ("claimed_at", admin.EmptyFieldListFilter), "notification__status"]
    search_fields = ["user__email", "user__phone", "draw__title", "prize__name"]
    raw_id_fields = ["draw", "prize", "entry", "user"]
    list_select_related = ["draw", "prize", "user"]


@admin.register(WinnerNotification)
class WinnerNotificationAdmin(admin.ModelAdmin):
    list_display = ["winner", "channel", "to", "status", "attempts", "error", "updated_at"]
    list_filter = ["status", "channel"]
    search_fields = ["to", "winner__user__email", "winner__draw__title"]
    raw_id_fields = ["winner"]

    def has_add_permission(self, request) -> bool:
        return False  # written by "notify winners" only

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(OperatorEndpoint)
class OperatorEndpointAdmin(admin.ModelAdmin):
    list_display = ["event", "url", "is_active", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["url", "event__title"]
    raw_id_fields = ["event"]
    readonly_fields = ["secret"]


@admin.register(ForwardingBatch)
class ForwardingBatchAdmin(admin.ModelAdmin):
    list_display = ["id", "endpoint", "status", "attempts", "next_attempt_at", "created_by",
                    "created_at", "forwarded_at"]
    list_filter = ["status"]
    search_fields = ["endpoint__url", "endpoint__event__title"]
    readonly_fields = ["endpoint", "status", "attempts", "next_attempt_at", "created_by",
                       "created_at", "forwarded_at"]
    exclude = ["entries"]
    actions = ["retry_now"]

    def has_add_permission(self, request) -> bool:
        return False  # batches come from "forward to the operator"

    @admin.action(description="Retry selected batches now")
    def retry_now(self, request, queryset):
        count = forwarding.forwarding_batch_retry(
            batch_ids=queryset.values_list("pk", flat=True), actor=request.user)
        self.message_user(request, f"{count} batch(es) queued for another attempt.")


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
        _each(self, request, queryset, lambda k: screen_key_revoke(screen_key=k),
              "Revoked")


# Whatever core and ticketing registered (ticketing adds the sale and price inlines):
# extended, not replaced, or the event page loses them.
RegisteredEventAdmin = type(admin.site.get_model_admin(Event))
admin.site.unregister(Event)


@admin.register(Event)
class EventAdmin(RegisteredEventAdmin):
    """The registered event admin plus live's actions: screen keys, check-in exports."""

    actions = ["issue_screen_key", "export_checkins_csv", "export_checkins_xlsx"]

    def _export(self, request, queryset, fmt: str):
        event = _single(self, request, queryset, "event to export")
        return event and exports.checkins_export(event=event, fmt=fmt)

    @admin.action(description="Export check-ins (CSV, one event)")
    def export_checkins_csv(self, request, queryset):
        return self._export(request, queryset, "csv")

    @admin.action(description="Export check-ins (Excel, one event)")
    def export_checkins_xlsx(self, request, queryset):
        return self._export(request, queryset, "xlsx")

    @admin.action(description="Issue a venue screen key")
    def issue_screen_key(self, request, queryset):
        for event in queryset:
            _, key = screen_key_issue(event=event, actor=request.user, label="admin")
            self.message_user(request, f"Screen key for {event} (shown once): {key}",
                              messages.SUCCESS)
