"""Check-in, venue screen keys and the check-in code shown on the screens.

Check-in is one transaction per call; the check-in code is derived from the event's
secret (live/checkin.py), so publishing it writes nothing.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from core.models import Event, User
from core.streams import SCREEN_KEY_REVOKED, control_on_commit, publish_on_commit
from live import checkin as checkin_codes
from live.errors import (
    AlreadyCheckedIn,
    CheckinNotOpenYet,
    EventNotOpen,
    InvalidCheckinCode,
)
from live.models import CheckIn, ScreenKey
from live.selectors import (
    screen_key_hash,
)
from live.streams import screen_stream


@transaction.atomic
def checkin_create(*, event: Event, user: User, nonce: str = "", code: str | None = None
                 ) -> tuple[CheckIn, bool]:
    """Check `user` in to `event`. Returns (check-in, created).

    A repeat with the same non-empty nonce returns the existing check-in, created=False
    (pretix semantics, even if the code has rotated since). Raises EventNotOpen (409),
    CheckinNotOpenYet (409: earlier than `checkin_opens_before` minutes before the
    start), AlreadyCheckedIn (409) or InvalidCheckinCode (400). Writes nothing on error.
    """
    existing = CheckIn.objects.filter(event=event, user=user).first()
    if existing is not None:
        if nonce and existing.nonce == nonce:
            return existing, False
        raise AlreadyCheckedIn()
    if event.status not in (Event.Status.PUBLISHED, Event.Status.LIVE):
        raise EventNotOpen()
    opens_at = event.starts_at - timedelta(minutes=event.checkin_opens_before)
    if timezone.now() < opens_at:
        raise CheckinNotOpenYet(opens_at, time_zone=event.time_zone)
    if event.checkin_code_required and not checkin_codes.code_is_valid(event, code):
        raise InvalidCheckinCode()
    try:
        with transaction.atomic():
            return CheckIn.objects.create(event=event, user=user, nonce=nonce), True
    except IntegrityError:  # a concurrent request for the same user won
        existing = CheckIn.objects.get(event=event, user=user)
        if nonce and existing.nonce == nonce:
            return existing, False
        raise AlreadyCheckedIn() from None


@transaction.atomic
def screen_key_issue(*, event: Event, actor: User | None, label: str = "") -> tuple[ScreenKey,
                                                                                      str]:
    """Issue a screen key for `event`. Returns (row, key): the key is shown once only."""
    key = secrets.token_urlsafe(32)
    row = ScreenKey.objects.create(event=event, label=label, created_by=actor,
                                   key_hash=screen_key_hash(key))
    return row, key


@transaction.atomic
def screen_key_revoke(*, screen_key: ScreenKey) -> ScreenKey:
    """Revoke a screen key (idempotent): screens using it can no longer connect, and
    the sockets open with it are closed 4403 within moments, on every worker.

    Rotation without downtime: issue the new key, move the screens to it, then
    revoke the old one; keys of one event are independent.
    """
    revoked = ScreenKey.objects.filter(pk=screen_key.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now())
    if revoked:
        control_on_commit(SCREEN_KEY_REVOKED, event_id=screen_key.event_id)
    screen_key.refresh_from_db()
    return screen_key


def checkin_code_publish(*, event: Event) -> dict:
    """Send the event's current check-in code to its venue screens (no database write)."""
    data = {"event_id": event.pk, **checkin_codes.current_code(event)}
    publish_on_commit(screen_stream(event.pk), "checkin.code", data)
    return data
