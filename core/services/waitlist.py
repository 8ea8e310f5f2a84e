"""Referral waitlist writes: who referred whom, and when a referral counts.

Contract used by registration, waitlist sign-up and verification:

- ``referrer_for_code(code)`` -> User, or raises ``UnknownReferralCode`` (404).
- ``attach_referrer(*, user, referrer)`` records who referred a new account
  (self-referral refused); counts it at once unless the setting requires the
  referee to be verified first.
- ``count_referral_if_eligible(*, user)`` is called when the user verifies a
  phone or email; it counts the referral exactly once.

Positions are never stored: they are computed live from ``referral_count``
and ``date_joined`` (see core/selectors/waitlist.py).
"""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from core.errors import DomainError, NotFound
from core.models import User


class UnknownReferralCode(NotFound):
    code = "unknown_referral_code"
    detail = "No account has this referral code."


class SelfReferral(DomainError):
    code = "self_referral"
    detail = "You cannot use your own referral code."


def referrer_for_code(code: str) -> User:
    normalized = (code or "").strip().upper()
    try:
        return User.objects.get(referral_code=normalized)
    except User.DoesNotExist:
        raise UnknownReferralCode() from None


@transaction.atomic
def attach_referrer(*, user: User, referrer: User) -> User:
    """Record `referrer` for a new account; count it now unless verification is required."""
    if referrer.pk == user.pk or referrer.email == user.email:
        raise SelfReferral()
    if user.referred_by_id is not None:
        return user
    user.referred_by = referrer
    user.save(update_fields=["referred_by"])
    if not settings.WAITLIST_REQUIRE_VERIFIED_REFERRAL or user.is_verified:
        _count(user)
    return user


@transaction.atomic
def count_referral_if_eligible(*, user: User) -> bool:
    """Count `user`'s referral for its referrer once it is verified. True if counted now."""
    locked = User.objects.select_for_update().get(pk=user.pk)
    if locked.referred_by_id is None or locked.referral_counted_at is not None:
        return False
    if settings.WAITLIST_REQUIRE_VERIFIED_REFERRAL and not locked.is_verified:
        return False
    _count(locked)
    return True


def _count(user: User) -> None:
    now = timezone.now()
    updated = User.objects.filter(pk=user.pk, referral_counted_at__isnull=True).update(
        referral_counted_at=now
    )
    if updated:
        User.objects.filter(pk=user.referred_by_id).update(referral_count=F("referral_count") + 1)
        user.referral_counted_at = now
        # The ranking index (Redis sorted set, when configured) follows the count here.
        transaction.on_commit(lambda: _after_referral_counted(user.referred_by_id))


def _after_referral_counted(referrer_id: int) -> None:
    """Hook for keeping the Redis ranking in step (waitlist issue); nothing to do without Redis."""
