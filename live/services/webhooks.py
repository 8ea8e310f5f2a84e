"""Queueing a draw's webhooks, shared by performing and claims."""

from __future__ import annotations

from core import webhooks
from core.jsonutil import to_jsonable
from live.models import Draw


def emit_draw_webhook(draw: Draw, kind: str, payload: dict) -> None:
    """Queue webhook `kind` for the draw's event in the caller's transaction."""
    # WebhookDelivery.payload is a plain JSONField: dates go in as ISO strings.
    webhooks.emit(event_id=draw.event_id, kind=kind, payload=to_jsonable(payload))
