"""Signed outbound HTTP: webhooks and forwarding to an operator share it.

Each POST carries ``Tombola-Signature: t=<unix>,v1=<hex>`` where ``hex`` is
HMAC-SHA256 of ``"<t>.<body>"`` under the endpoint's secret (the receiver
recomputes it and rejects old ``t`` to stop replays), and ``Tombola-Delivery``,
a stable id the receiver can use to ignore a retried duplicate.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

SIGNATURE_HEADER = "Tombola-Signature"
DELIVERY_HEADER = "Tombola-Delivery"


def sign(secret: str, body: bytes, timestamp: int) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify_signature(secret: str, body: bytes, header: str, *, tolerance: int = 300) -> bool:
    """What a receiver does; used by our tests' receivers and documented for operators."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(time.time() - timestamp) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, body, timestamp), header)


@dataclass(frozen=True)
class PostResult:
    ok: bool
    status_code: int | None
    error: str
    duration_ms: int


def signed_post(
    *, url: str, secret: str, payload: object, delivery_id: str, timeout: float = 5.0
) -> PostResult:
    body = json.dumps(payload, cls=DjangoJSONEncoder, separators=(",", ":")).encode()
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: sign(secret, body, int(time.time())),
        DELIVERY_HEADER: delivery_id,
        "User-Agent": "Tombola-Webhooks/1",
    }
    started = time.monotonic()
    try:
        response = httpx.post(url, content=body, headers=headers, timeout=timeout)
    except httpx.HTTPError as exc:
        elapsed = int((time.monotonic() - started) * 1000)
        return PostResult(False, None, f"{exc.__class__.__name__}: {exc}"[:500], elapsed)
    elapsed = int((time.monotonic() - started) * 1000)
    ok = 200 <= response.status_code < 300
    return PostResult(ok, response.status_code, "" if ok else response.text[:200], elapsed)


def backoff_seconds(attempts: int, *, base: float = 5.0, cap: float = 3600.0) -> float:
    """5 s, 10 s, 20 s, ... capped at an hour."""
    return min(cap, base * (2 ** max(0, attempts - 1)))


def claim_due(pending: QuerySet, *, limit: int, lease: timedelta) -> list[int]:
    """Lease up to `limit` due rows of `pending` (rows with ``next_attempt_at``) to this process.

    Rows locked by another process are skipped (SKIP LOCKED), and each claimed row's
    ``next_attempt_at`` moves past the lease before any HTTP call, so several
    schedulers never send the same row at once; a crashed sender's rows come due
    again when the lease ends. Returns the claimed ids.
    """
    now = timezone.now()
    with transaction.atomic():
        ids = list(pending.select_for_update(skip_locked=True)
                   .filter(next_attempt_at__lte=now)
                   .order_by("next_attempt_at", "id").values_list("id", flat=True)[:limit])
        pending.model.objects.filter(id__in=ids).update(next_attempt_at=now + lease)
    return ids


def after_attempt(row, *, ok: bool, now: datetime, max_attempts: int, backoff_base: float,
                  succeeded: str = "succeeded", failed: str = "failed") -> list[str]:
    """Count an attempt on `row` (``attempts``, ``status``, ``next_attempt_at``): done on
    success, given up after `max_attempts`, else due again after the backoff.
    Returns the fields it changed, for ``save(update_fields=...)``."""
    row.attempts += 1
    if ok:
        row.status = succeeded
    elif row.attempts >= max_attempts:
        row.status = failed
    else:
        row.next_attempt_at = now + timedelta(
            seconds=backoff_seconds(row.attempts, base=backoff_base))
    return ["attempts", "status", "next_attempt_at"]
