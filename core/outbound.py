"""Signed outbound HTTP: webhooks and forwarding to an operator share it.

Each POST carries ``Tombola-Signature: t=<unix>,v1=<hex>`` where ``hex`` is
HMAC-SHA256 of ``"<t>.<body>"`` under the endpoint's secret (the receiver
recomputes it and rejects old ``t`` to stop replays), and ``Tombola-Delivery``,
a stable id the receiver can use to ignore a retried duplicate.

Destinations are staff-entered URLs, so before each POST (and when a URL is
saved) the host is resolved and every address must be public: a webhook must
not become a way to reach the metrics endpoint, Redis or a cloud metadata
service from inside our network. OUTBOUND_ALLOWED_NETWORKS lists private
networks an operator may be on (tests allow loopback for their receivers).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import socket
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from core.errors import UnsafeDestination

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


_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
_IPV4_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, 6to4, Teredo, NAT64, and so on)."""
    if address.ipv4_mapped:
        return address.ipv4_mapped
    if address.sixtofour:
        return address.sixtofour
    if address.teredo:
        return address.teredo[1]
    if any(address in net for net in (_NAT64, _IPV4_COMPATIBLE, _IPV4_TRANSLATED)):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _allowed(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        if address.is_site_local:  # deprecated fec0::/10, still private where used
            return False
        address = _embedded_ipv4(address) or address
    if any(address in ipaddress.ip_network(net, strict=False)
           for net in settings.OUTBOUND_ALLOWED_NETWORKS):
        return True
    return address.is_global


def check_destination(url: str, *, resolve: bool = True) -> None:
    """Raise UnsafeDestination unless `url` is http(s) to public addresses only.

    With resolve=False (saving a URL), a name that does not resolve (yet) passes:
    the check before each POST is the one that counts. The address can still
    change between this check and httpx's own lookup (DNS rebinding); the window
    is one lookup long and redirects are not followed.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeDestination("Only http(s) URLs with a host can receive deliveries.")
    host = parts.hostname
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        try:
            infos = socket.getaddrinfo(host, parts.port or 443, proto=socket.IPPROTO_TCP)
        except (socket.gaierror, UnicodeError) as exc:
            if resolve:
                raise UnsafeDestination(f"The host {host!r} does not resolve.") from exc
            return
        addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
    refused = sorted({str(a) for a in addresses if not _allowed(a)})
    if refused:
        raise UnsafeDestination(
            f"The host {host!r} is a private, loopback or reserved address "
            f"({', '.join(refused)}); deliveries go to public addresses only."
        )


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
        check_destination(url)
    except UnsafeDestination as exc:
        return PostResult(False, None, f"refused: {exc.message}"[:500], 0)
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


def retry_now(model, *, ids, action: str, actor) -> int:
    """Make those of `ids` that have not succeeded due now (status pending) and audit
    each as `action`; the scheduler's next delivery pass sends them. For the outboxes
    that share this module's columns (status, next_attempt_at): webhook deliveries,
    operator batches. Call inside a transaction (the rows are locked in id order)."""
    from core import audit

    retry = (model.objects.select_for_update().filter(pk__in=list(ids))
             .exclude(status=model.Status.SUCCEEDED).order_by("pk"))
    chosen = list(retry.values_list("pk", flat=True))
    model.objects.filter(pk__in=chosen).update(status=model.Status.PENDING,
                                               next_attempt_at=timezone.now())
    for pk in chosen:
        audit.record(action=action, object_type=model._meta.label_lower, object_id=pk,
                     actor=actor)
    return len(chosen)


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
