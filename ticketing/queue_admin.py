"""The waiting room's admin pages (imported by ticketing/admin.py, which Django discovers).

Every change goes through ticketing/services/waiting_room.py, as the REST API's do:
the settings through ``waiting_room_configure``, the status through
``waiting_room_set_status`` (each audited, and copied to the line's store after
commit). The row is never saved here: a ``save()`` would skip the audit and leave
the line running on the old settings.

The live figures (length, admitted, passes out, purchases, abandonment) are read
from the line's store (Redis in production) with ``room_figures``. A store that does
not answer shows "unavailable": the pages still render and the settings still save
(the admission job copies them to the store when it is back).
"""

from __future__ import annotations

import logging
from typing import Any

import redis
from django import forms
from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from core.local_time import local_format
from core.models import Event
from ticketing.models import WAITING_ROOM_SETTINGS, WaitingRoom
from ticketing.services.waiting_room import (
    room_figures,
    waiting_room_configure,
    waiting_room_set_status,
)

logger = logging.getLogger(__name__)

UNAVAILABLE = "unavailable"
# What the change page's figures block shows, in this order.
FIGURE_LABELS = (
    ("length", "waiting in the line"),
    ("served", "places called (a buyer's position is number - served)"),
    ("joined", "joined"),
    ("admitted", "admitted"),
    ("passes_out", "passes out (not used yet)"),
    ("used", "passes used (seats held)"),
    ("purchases", "purchases made with a pass"),
    ("expired", "passes expired unused"),
    ("left", "left the line"),
)


def figures_or_none(event_id: int) -> dict[str, Any] | None:
    """The line's figures, or None when its store (Redis) does not answer."""
    try:
        return room_figures(event_id)
    except redis.RedisError:
        logger.warning("waiting room figures of event %s unavailable", event_id, exc_info=True)
        return None


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _names(rooms: list[WaitingRoom]) -> str:
    return ", ".join(str(room.event) for room in rooms)


class WaitingRoomChangeList(ChangeList):
    """Reads each listed room's figures once (the columns share them); after the first
    store error the rest are marked unavailable without waiting for each to time out."""

    def get_results(self, request):
        super().get_results(request)
        reachable = True
        for room in self.result_list:
            room.figures = figures_or_none(room.event_id) if reachable else None
            reachable = room.figures is not None


class WaitingRoomForm(forms.ModelForm):
    class Meta:
        model = WaitingRoom
        fields = ["event", "status", *WAITING_ROOM_SETTINGS]

    def clean(self):
        cleaned = super().clean()
        rate, ceiling = cleaned.get("rate_per_minute"), cleaned.get("max_rate_per_minute")
        if rate is not None and ceiling is not None and ceiling < rate:
            if "max_rate_per_minute" in self.changed_data:
                self.add_error("max_rate_per_minute",
                               "The highest rate cannot be below the rate.")
            else:  # as waiting_room_configure does: the ceiling follows a higher rate
                cleaned["max_rate_per_minute"] = rate
        return cleaned


@admin.register(WaitingRoom)
class WaitingRoomAdmin(admin.ModelAdmin):
    form = WaitingRoomForm
    list_display = ["event", "status", "mode", "rate", "length", "admitted", "passes_out",
                    "purchases", "abandoned"]
    list_filter = ["status", "mode"]
    search_fields = ["event__title"]
    list_select_related = ["event"]
    ordering = ["-created_at"]
    actions = ["pause_rooms", "resume_rooms", "close_rooms"]

    # --- list -----------------------------------------------------------------------

    def get_changelist(self, request, **kwargs):
        return WaitingRoomChangeList

    @staticmethod
    def _figure(room: WaitingRoom, name: str) -> Any:
        figures = getattr(room, "figures", None)
        return UNAVAILABLE if figures is None else figures[name]

    @admin.display(description="rate / min")
    def rate(self, room: WaitingRoom) -> str:
        if room.mode != WaitingRoom.Mode.ADAPTIVE:
            return str(room.rate_per_minute)
        live = self._figure(room, "rate_per_minute")
        now = live if live == UNAVAILABLE else f"{live:.0f}"
        return f"now {now} (from {room.rate_per_minute}, at most {room.max_rate_per_minute})"

    @admin.display(description="in line")
    def length(self, room: WaitingRoom) -> Any:
        return self._figure(room, "length")

    @admin.display(description="admitted")
    def admitted(self, room: WaitingRoom) -> Any:
        return self._figure(room, "admitted")

    @admin.display(description="passes out")
    def passes_out(self, room: WaitingRoom) -> Any:
        return self._figure(room, "passes_out")

    @admin.display(description="purchases")
    def purchases(self, room: WaitingRoom) -> Any:
        return self._figure(room, "purchases")

    @admin.display(description="abandoned (expired + left)")
    def abandoned(self, room: WaitingRoom) -> Any:
        return self._figure(room, "abandoned")

    # --- change form ----------------------------------------------------------------

    def get_fieldsets(self, request, obj=None):
        fieldsets = [
            (None, {"fields": ["event", "status"]}),
            ("Admission", {"fields": ["mode", "rate_per_minute", "max_rate_per_minute",
                                      "target_latency_ms"],
                           "description": "fixed: rate_per_minute buyers a minute. adaptive: "
                                          "starts there and admits more while hold and "
                                          "purchase p95 latency stay under the target."}),
            ("Timing", {"fields": ["opens_minutes_before_sale", "pass_minutes"]}),
        ]
        if obj is not None:
            fieldsets.append(("Live figures", {"fields": ["live_figures", "updated_at"]}))
        return fieldsets

    def get_readonly_fields(self, request, obj=None):
        # The room belongs to its event for good; the figures are the line's.
        return ["event", "live_figures", "updated_at"] if obj is not None else []

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "event":  # one room per event: offer the events without one
            kwargs["queryset"] = Event.objects.filter(waiting_room__isnull=True).order_by(
                "-starts_at")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    @admin.display(description="the line now")
    def live_figures(self, room: WaitingRoom) -> str:
        figures = figures_or_none(room.event_id)
        if figures is None:
            return format_html(
                "<strong>{}</strong>: the line's store (Redis) is not answering. Settings "
                "still save; the line picks them up when it is back.", UNAVAILABLE)
        rows = [(label, figures[name]) for name, label in FIGURE_LABELS]
        rows.append(("abandoned (expired + left)", figures["expired"] + figures["left"]))
        rows.append(("admission rate now", f"{figures['rate_per_minute']:.0f} a minute"))
        note = ""
        if figures["status"] != room.status:
            note = (f"The line's store says {figures['status']!r}; the admission job copies "
                    "the room's settings to it within a second.")
        return format_html(
            '<table class="waiting-room-figures"><tbody>{}</tbody></table>'
            "<p>{}</p><p>Read at {} (reload for fresh figures; live on "
            "<code>/ws/events/{}/queue/staff/</code>).</p>",
            format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", rows),
            note, local_format(timezone.now(), tz=room.event.time_zone, date=False),
            room.event_id)

    def save_model(self, request, obj, form, change):
        """Through the services: settings with waiting_room_configure (a new room is
        created open), then the status with waiting_room_set_status if it changed."""
        changed = [name for name in WAITING_ROOM_SETTINGS if name in form.changed_data]
        room = obj
        if not change or changed:
            room = waiting_room_configure(
                event=obj.event, actor=request.user, source="admin",
                **{name: form.cleaned_data[name] for name in (changed if change else
                                                              WAITING_ROOM_SETTINGS)})
        status = form.cleaned_data["status"]
        if ("status" in form.changed_data) if change else status != room.status:
            room = waiting_room_set_status(room=room, status=status, actor=request.user,
                                           source="admin")
        # What the admin goes on with (its log entry, the redirect): the row as saved.
        for field in WaitingRoom._meta.concrete_fields:
            setattr(obj, field.attname, getattr(room, field.attname))
        obj._state.adding = False

    def has_delete_permission(self, request, obj=None):
        # No service deletes a room (its line would stay behind in the store): close it.
        return False

    # --- actions --------------------------------------------------------------------

    def _set_status(self, request, queryset, status: str) -> None:
        changed: dict[str, list[WaitingRoom]] = {}
        unchanged: list[WaitingRoom] = []
        for room in queryset.select_related("event").order_by("pk"):
            if room.status == status:
                unchanged.append(room)
                continue
            changed.setdefault(room.status, []).append(room)
            waiting_room_set_status(room=room, status=status, actor=request.user,
                                    source="admin")
        done = {
            WaitingRoom.Status.PAUSED: "Paused admission in {rooms}: nobody more is let in; "
                                       "passes already out stay valid and buyers can still "
                                       "join.",
            WaitingRoom.Status.OPEN: "Resumed admission in {rooms}.",
            WaitingRoom.Status.CLOSED: "Closed {rooms}: the sale is direct, no pass needed "
                                       "(the line is kept; resume to bring it back).",
        }
        for previous, rooms in changed.items():
            text = done[status]
            if status == WaitingRoom.Status.OPEN and previous == WaitingRoom.Status.CLOSED:
                text = ("Reopened {rooms}: holding and buying seats need an admission pass "
                        "again.")
            self.message_user(request, text.format(
                rooms=f"{_plural(len(rooms), 'waiting room')} ({_names(rooms)})"),
                messages.SUCCESS)
        if unchanged:
            self.message_user(request, f"Already {status}: {_names(unchanged)}.", messages.INFO)

    @admin.action(description="Pause admission in the selected waiting rooms",
                  permissions=["change"])
    def pause_rooms(self, request, queryset):
        self._set_status(request, queryset, WaitingRoom.Status.PAUSED)

    @admin.action(description="Resume admission (or reopen) in the selected waiting rooms",
                  permissions=["change"])
    def resume_rooms(self, request, queryset):
        self._set_status(request, queryset, WaitingRoom.Status.OPEN)

    @admin.action(description="Close the selected waiting rooms (the sale goes direct)",
                  permissions=["change"])
    def close_rooms(self, request, queryset):
        self._set_status(request, queryset, WaitingRoom.Status.CLOSED)


@admin.display(description="waiting room")
def event_waiting_room(event: Event) -> str:
    """The event page's line about its waiting room, with the way to it."""
    if event.pk is None:
        return "Save the event first."
    room = WaitingRoom.objects.filter(event=event).first()
    if room is None:
        return format_html('None. <a href="{}?event={}">Put a waiting room in front of the '
                           "sale</a>", reverse("admin:ticketing_waitingroom_add"), event.pk)
    return format_html('<a href="{}">{}, {} at {} a minute</a>',
                       reverse("admin:ticketing_waitingroom_change", args=[room.pk]),
                       room.status, room.mode, room.rate_per_minute)
