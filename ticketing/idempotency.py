"""Idempotency-Key for unsafe API calls (Stripe / pretix semantics).

    class PurchaseView(APIView):
        @idempotent
        def post(self, request, token): ...

- No header: the call runs as usual.
- First call with a key: runs; its response (2xx or 4xx) is stored for 24 h.
- Same user, same key, same method + path + body: the stored response is
  replayed (header ``Idempotent-Replayed: true``); the service does not run again.
- Same key while the first call still runs: 409 ``idempotency_request_in_progress``.
- Same key with a different method, path or body: 422 ``idempotency_key_reused``.
- A 5xx or an unhandled error forgets the key, so the client's retry runs again.

The key row is committed before the call runs (views run in autocommit), so a
concurrent duplicate in another process sees it.
"""

from __future__ import annotations

import functools
import hashlib
import json
from datetime import timedelta

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework.response import Response

from core.jsonutil import to_jsonable
from ticketing.errors import (
    IdempotencyKeyReused,
    IdempotentRequestInProgress,
    InvalidIdempotencyKey,
)
from ticketing.models import IdempotencyKey

HEADER = "Idempotency-Key"
# The longest Idempotency-Key header accepted (IdempotencyKey.key is as wide).
MAX_KEY_LENGTH = 255
# A first call that has not finished after this long is presumed dead (its
# process crashed): a retry may take the key over.
ABANDONED_AFTER = timedelta(minutes=2)


def request_fingerprint(request) -> str:
    canonical = json.dumps(
        {"method": request.method, "path": request.path, "body": request.data},
        sort_keys=True,
        cls=DjangoJSONEncoder,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def begin(*, user, key: str, fingerprint: str) -> tuple[IdempotencyKey, bool]:
    """Claim the key; -> (row, replay). replay=True: row holds the first response."""
    now = timezone.now()
    retention = timedelta(hours=settings.TICKETING_IDEMPOTENCY_HOURS)
    for _ in range(2):
        try:
            row = _create(user=user, key=key, fingerprint=fingerprint, now=now)
            return row, False
        except IntegrityError:
            pass
        row = IdempotencyKey.objects.filter(user=user, key=key).first()
        if row is None:
            continue  # forgotten meanwhile; claim again
        expired = row.created_at <= now - retention
        abandoned = row.response_status is None and row.created_at <= now - ABANDONED_AFTER
        if expired or abandoned:
            IdempotencyKey.objects.filter(pk=row.pk, created_at=row.created_at).delete()
            continue
        if row.request_hash != fingerprint:
            raise IdempotencyKeyReused()
        if row.response_status is None:
            raise IdempotentRequestInProgress()
        return row, True
    raise IdempotentRequestInProgress()


def _create(*, user, key: str, fingerprint: str, now) -> IdempotencyKey:
    """Insert the key row; IntegrityError when (user, key) exists.

    Views run in autocommit, where the INSERT is its own transaction and a
    duplicate leaves nothing to roll back: no BEGIN/COMMIT around it. Inside a
    caller's transaction (tests, a future ATOMIC_REQUESTS) a savepoint keeps
    the duplicate from breaking that transaction.
    """
    fields = {"user": user, "key": key, "request_hash": fingerprint, "created_at": now}
    if not transaction.get_connection().in_atomic_block:
        return IdempotencyKey.objects.create(**fields)
    with transaction.atomic():
        return IdempotencyKey.objects.create(**fields)


def finish(row: IdempotencyKey, response: Response) -> None:
    if response.status_code >= 500:
        forget(row)
        return
    IdempotencyKey.objects.filter(pk=row.pk).update(
        response_status=response.status_code,
        response_body=to_jsonable(response.data),
    )


def forget(row: IdempotencyKey) -> None:
    IdempotencyKey.objects.filter(pk=row.pk).delete()


def idempotency_keys_purge() -> int:
    """Delete keys past their retention (the scheduler runs this hourly)."""
    cutoff = timezone.now() - timedelta(hours=settings.TICKETING_IDEMPOTENCY_HOURS)
    deleted, _ = IdempotencyKey.objects.filter(created_at__lte=cutoff).delete()
    return deleted


def idempotent(view_method):
    """Decorate an APIView handler (post/put/patch) to honour the Idempotency-Key header."""

    @functools.wraps(view_method)
    def wrapper(self, request, *args, **kwargs):
        key = request.headers.get(HEADER)
        if key is None:
            return view_method(self, request, *args, **kwargs)
        if not key.strip() or len(key) > MAX_KEY_LENGTH:
            raise InvalidIdempotencyKey(
                f"The Idempotency-Key header must be 1 to {MAX_KEY_LENGTH} characters."
            )
        row, replay = begin(user=request.user, key=key, fingerprint=request_fingerprint(request))
        if replay:
            response = Response(row.response_body, status=row.response_status)
            response["Idempotent-Replayed"] = "true"
            return response
        try:
            response = view_method(self, request, *args, **kwargs)
        except Exception as exc:
            try:
                # Render domain and validation errors the usual way, so they are stored too.
                response = self.handle_exception(exc)
            except Exception:
                forget(row)
                raise
        finish(row, response)
        return response

    return wrapper
