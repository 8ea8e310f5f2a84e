"""Ticketing settings, read at call time so tests can override them.

TICKETING_HOLD_BACKEND: "redis", "db", or "" (auto: Redis when REDIS_URL is set).
TICKETING_HOLD_TTL_SECONDS: lifetime a hold gets (and each extension gives), 15 min.
TICKETING_HOLD_MAX_LIFETIME_SECONDS: no extension goes past created + this, 45 min.
TICKETING_SEAT_LOCK_TIMEOUT_MS: how long a hold claim or a purchase waits for a row
lock on PostgreSQL before it answers 503 "busy", 5 s (SQLite: not used).
"""

from __future__ import annotations

import os

from django.conf import settings

DEFAULTS = {
    "TICKETING_HOLD_BACKEND": os.environ.get("TICKETING_HOLD_BACKEND", ""),
    "TICKETING_HOLD_TTL_SECONDS": int(os.environ.get("TICKETING_HOLD_TTL_SECONDS", "900")),
    "TICKETING_HOLD_MAX_LIFETIME_SECONDS": int(
        os.environ.get("TICKETING_HOLD_MAX_LIFETIME_SECONDS", "2700")
    ),
    "TICKETING_SEAT_LOCK_TIMEOUT_MS": int(
        os.environ.get("TICKETING_SEAT_LOCK_TIMEOUT_MS", "5000")
    ),
    # The largest single top-up, in minor units (10,000.00).
    "TICKETING_MAX_TOP_UP": int(os.environ.get("TICKETING_MAX_TOP_UP", "1000000")),
    "TICKETING_IDEMPOTENCY_HOURS": 24,
}

# The longest Idempotency-Key header accepted (the column is as wide).
MAX_IDEMPOTENCY_KEY_LENGTH = 255


def get(name: str):
    return getattr(settings, name, DEFAULTS[name])


def hold_backend_name() -> str:
    configured = get("TICKETING_HOLD_BACKEND")
    if configured:
        return configured
    return "redis" if settings.REDIS_URL else "db"
