"""The venue screen: a plain HTML page (no build step) fed by the event's streams.

    /screen/events/<id>/?key=<screen key>

The screen key is issued by staff per event (live registers how to check it
on the "event" stream kind); the page passes it on to the WebSocket, which is
the only stream that carries the rotating check-in code.
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
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from core.models import Event
from core.streams import Viewer, stream_kind

# Heartbeats every WS_HEARTBEAT_SECONDS; the page reconnects after this much silence.
SILENCE_GRACE_SECONDS = 15
# An event without a waiting room closes its queue stream (4404); the page asks again
# this often, so a room staff put in front of the sale later shows without a reload.
QUEUE_RETRY_SECONDS = 60


def _screen_key_ok(event_id: int, key: str) -> bool:
    kind = stream_kind("event")
    return bool(key) and kind is not None and kind.screen_key_valid is not None and bool(
        kind.screen_key_valid(event_id, key)
    )


def _refused(request, status: int, message: str) -> HttpResponse:
    return render(request, "screen/refused.html", {"message": message}, status=status)


@require_GET
@never_cache
def screen_page(request, event_id: int):
    event = get_object_or_404(Event, pk=event_id)
    key = request.GET.get("key", "")
    if not _screen_key_ok(event.pk, key):
        return _refused(request, 403, "This screen key is not valid for this event.")
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
        "qr_url": reverse("screen-qr", args=[event.pk]) + "?key=" + key,
        "silence_ms": (getattr(settings, "WS_HEARTBEAT_SECONDS", 30) + SILENCE_GRACE_SECONDS)
        * 1000,
    }
    # </script> inside a value must not end the JSON island.
    payload = json.dumps(config).replace("<", "\\u003c")
    return render(request, "screen/event.html", {"event": event, "config": payload})


def checkin_payload(event_id: int, code: str) -> str:
    """What the QR code says; the attendee app sends `code` to the check-in endpoint."""
    return f"TOMBOLA:CHECKIN:{event_id}:{code}"


@require_GET
@never_cache
def screen_qr(request, event_id: int):
    """The current check-in code as a QR code (SVG); same screen key as the page."""
    if not _screen_key_ok(event_id, request.GET.get("key", "")):
        return _refused(request, 403, "This screen key is not valid for this event.")
    snapshot = stream_kind("event").snapshot(event_id, Viewer(user=AnonymousUser(), screen=True))
    checkin = (snapshot or {}).get("checkin") or {}
    if not checkin.get("code"):
        return _refused(request, 404, "This event has no check-in code.")
    buffer = io.BytesIO()
    segno.make(checkin_payload(event_id, checkin["code"]), error="m").save(
        buffer, kind="svg", scale=6, border=2
    )
    return HttpResponse(buffer.getvalue(), content_type="image/svg+xml")
