"""The venue screen: a plain HTML page (no build step) fed by the event's streams.

    /screen/events/<id>/?key=<screen key>

The screen key is issued by staff per event (live registers how to check it
on the "event" stream kind); the page passes it on to the WebSocket, which is
the only stream that carries the rotating check-in code.

The page speaks the event's language and shows times in the event's zone with
its label ("19:30 CET"): the server writes the page's texts and the start time,
and hands the script its strings, the zone and the zone's labels by UTC offset
(the script formats the times that arrive on the streams with Intl in that zone).

The page itself is templates/screen/event.html; its styles and modules are in
core/web/screen/ (served at /assets/screen/, next to the stream client and the
draw reducer it shares with the attendee app). `?moment=<seconds>` sets how long a
winner announcement fills the screen (MOMENT_SECONDS; 0 turns it off).
"""

from __future__ import annotations

import io
import json

import segno
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from core.local_time import event_time, zone_labels
from core.models import Event
from core.streams import Viewer, stream_kind

# Heartbeats every WS_HEARTBEAT_SECONDS; the page reconnects after this much silence.
SILENCE_GRACE_SECONDS = 15
# An event without a waiting room closes its queue stream (4404); the page asks again
# this often, so a room staff put in front of the sale later shows without a reload.
QUEUE_RETRY_SECONDS = 60
# How long a winner announcement fills the screen before it settles into the list.
MOMENT_SECONDS, MOMENT_MAX_SECONDS = 8, 60


def _screen_key_ok(event_id: int, key: str) -> bool:
    kind = stream_kind("event")
    return bool(key) and kind is not None and kind.screen_key_valid is not None and bool(
        kind.screen_key_valid(event_id, key)
    )


KEY_REFUSED = _("This screen key is not valid for this event.")


def screen_strings() -> dict[str, str]:
    """The texts the script writes, in the active language (placeholders: {n}, {time})."""
    return {
        "live": gettext("live"), "connecting": gettext("connecting…"),
        "reconnecting": gettext("reconnecting…"),
        "stopped": gettext("stopped: this screen link is no longer valid"),
        "no_draw": gettext("No draw scheduled"), "drawn": gettext("Drawn"),
        "drawing": gettext("Drawing…"),
        # Translators: under the countdown, the time of the next draw: "at 19:30 CET".
        "draw_at": gettext("at {time}"),
        "paused": gettext("admission paused"),
        "sale_opens": gettext("sale opens at {time}"),
        "admitting": gettext("admitting {rate} a minute · {served} served"),
        "free": gettext("free"), "held": gettext("held"), "sold": gettext("sold"),
        "blocked": gettext("blocked"),
        # Winners grouped by draw (newest first) and the winner moment.
        "raffle": gettext("Raffle"), "lottery": gettext("Lottery"),
        "external": gettext("Drawn elsewhere"),
        # Translators: the heading over an external draw's winners, imported from a file.
        "imported": gettext("Imported winners"),
        "winning_numbers": gettext("Winning numbers"),
        # Translators: a lottery prize tier: "Matches: 5".
        "matches": gettext("Matches: {n}"),
        "no_winner": gettext("no winner"),
        # Translators: after the first names of a long list of winners.
        "more": gettext("and {n} more"),
        # Translators: when a draw was performed: "drawn at 19:30 CET".
        "drawn_at": gettext("drawn at {time}"),
        "winner": gettext("Winner"), "winners": gettext("Winners"),
        # Translators: the seat panel, one line per section: "12 of 50 sold".
        "sold_of": gettext("{sold} of {total} sold"),
    }


def moment_seconds(value: str | None) -> int:
    """The screen's `?moment=` (whole seconds, 0-60); anything else is the default."""
    if value is None or not value.isascii() or not value.isdigit():
        return MOMENT_SECONDS
    return min(int(value), MOMENT_MAX_SECONDS)


def _refused(request, status: int, message: str) -> HttpResponse:
    return render(request, "screen/refused.html", {"message": message}, status=status)


@require_GET
@never_cache
def screen_page(request, event_id: int):
    event = get_object_or_404(Event, pk=event_id)
    key = request.GET.get("key", "")
    if not _screen_key_ok(event.pk, key):
        with translation.override(event.language):
            return _refused(request, 403, gettext(KEY_REFUSED))
    scheme = "wss" if request.is_secure() else "ws"
    seats_kind = stream_kind("seats")
    # Whether the event has a waiting room is ticketing's to know (core imports no app):
    # the page subscribes, and a 4404 (no room) hides the line's figures.
    queue_kind = stream_kind("queue")
    config = {
        "event_id": event.pk,
        "key": key,
        "ws_base": f"{scheme}://{request.get_host()}",
        "event_path": f"/ws/events/{event.pk}/",
        "seats_path": f"/ws/events/{event.pk}/seats/"
        if seats_kind is not None and event.venue_id
        else None,
        "queue_path": f"/ws/events/{event.pk}/queue/" if queue_kind is not None else None,
        "queue_retry_ms": QUEUE_RETRY_SECONDS * 1000,
        "moment_ms": moment_seconds(request.GET.get("moment")) * 1000,
        "qr_url": reverse("screen-qr", args=[event.pk]) + "?key=" + key,
        "silence_ms": (getattr(settings, "WS_HEARTBEAT_SECONDS", 30) + SILENCE_GRACE_SECONDS)
        * 1000,
    }
    with translation.override(event.language):
        config.update({
            "language": event.language, "time_zone": event.time_zone,
            # {offset minutes: "CET"}: the script labels the times it formats with these.
            "zone_labels": zone_labels(event.time_zone, around=timezone.now()),
            "strings": screen_strings(),
        })
        # </script> inside a value must not end the JSON island.
        payload = json.dumps(config).replace("<", "\\u003c")
        return render(request, "screen/event.html", {
            "event": event, "config": payload, "starts_at": event_time(event, event.starts_at),
            "now": event_time(event, timezone.now(), date=False), "language": event.language})


def checkin_payload(event_id: int, code: str) -> str:
    """What the QR code says; the attendee app sends `code` to the check-in endpoint."""
    return f"TOMBOLA:CHECKIN:{event_id}:{code}"


@require_GET
@never_cache
def screen_qr(request, event_id: int):
    """The current check-in code as a QR code (SVG); same screen key as the page."""
    if not _screen_key_ok(event_id, request.GET.get("key", "")):
        return _refused(request, 403, gettext(KEY_REFUSED))
    snapshot = stream_kind("event").snapshot(event_id, Viewer(user=AnonymousUser(), screen=True))
    checkin = (snapshot or {}).get("checkin") or {}
    if not checkin.get("code"):
        return _refused(request, 404, gettext("This event has no check-in code."))
    buffer = io.BytesIO()
    segno.make(checkin_payload(event_id, checkin["code"]), error="m").save(
        buffer, kind="svg", scale=6, border=2
    )
    return HttpResponse(buffer.getvalue(), content_type="image/svg+xml")
