"""Presence codes for check-in: short codes that rotate every window (30 s).

code = the first 4 bytes of HMAC-SHA256(event.checkin_secret, "checkin:<window>") as a
6-digit number, where window = floor(unix_time / CHECKIN_CODE_WINDOW_SECONDS). The
current and the previous window are accepted, so a code read just before it rotates
still works. Only venue screens see codes (stream screen:<event_id>).
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime

from django.conf import settings
from django.utils import timezone


def window_seconds() -> int:
    return settings.CHECKIN_CODE_WINDOW_SECONDS


def current_window(now: datetime | None = None) -> int:
    return int((now or timezone.now()).timestamp() // window_seconds())


def code_for(secret: str, window: int) -> str:
    mac = hmac.new(secret.encode(), f"checkin:{window}".encode(), hashlib.sha256).digest()
    return f"{int.from_bytes(mac[:4], 'big') % 1_000_000:06d}"


def current_code(event, now: datetime | None = None) -> dict:
    """{code, valid_until} for the event's current window."""
    window = current_window(now)
    valid_until = datetime.fromtimestamp((window + 1) * window_seconds(), tz=UTC)
    return {"code": code_for(event.checkin_secret, window), "valid_until": valid_until}


def code_is_valid(event, code: str | None, now: datetime | None = None) -> bool:
    if not code:
        return False
    window = current_window(now)
    return any(
        hmac.compare_digest(str(code), code_for(event.checkin_secret, w))
        for w in (window, window - 1)
    )
