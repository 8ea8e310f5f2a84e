"""Phone verification by SMS code.

The logged-in user asks for a code for a phone, then confirms it; on success
that phone becomes the user's, marked verified with a timestamp.

- Codes: 6 digits from `secrets`, stored only as an HMAC (keyed with
  SECRET_KEY, bound to the phone and the user), compared in constant time.
- A code lives PHONE_CODE_TTL_SECONDS, allows PHONE_CODE_MAX_ATTEMPTS wrong
  guesses, and only the newest code for (phone, user) is valid. A phone gets
  at most one code per PHONE_CODE_RESEND_SECONDS, whoever asks, and at most
  PHONE_CODE_MAX_PER_DAY codes in any 24 hours; so does a user, over all the
  phones they try. That caps the guesses at a code anyone gets per phone and
  per account at PHONE_CODE_MAX_PER_DAY * PHONE_CODE_MAX_ATTEMPTS a day
  (50 of 1,000,000 by default; tests/test_brute_force.py computes and attacks it).
- Nothing tells the requester whether the phone belongs to an account. When
  another account has already VERIFIED the phone it is not taken from it
  (one phone, one verified account: the rule is "kept", not "moved"; a unique
  constraint on verified phones backs it): the SMS says so to the phone's owner
  instead of carrying a code, and the stored code is one nobody knows, so the
  requester sees exactly what a wrong code looks like. An account that only
  typed the phone into its profile (unverified) loses it to the one that proves
  ownership. The number is free again once its holder removes or changes it.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.translation import gettext

from core.errors import (
    CodeDailyLimit,
    CodeExpired,
    CodeResendTooSoon,
    DomainError,
    InvalidCode,
    TooManyAttempts,
)
from core.models import PhoneVerification, User
from core.phones import normalize_phone, phone_check_textable
from core.services import waitlist
from core.sms import send_sms

CODE_DIGITS = 6
DAY = timedelta(days=1)


def phone_verification_send(*, user: User, phone: str) -> PhoneVerification:
    """Send a fresh code for `phone` to it by SMS, for `user` to confirm.

    Only mobile numbers of PHONE_ALLOWED_REGIONS get codes (SMS pumping:
    core.phones.phone_check_textable). Locks the user row (one send at a time per
    user). Raises InvalidPhone, PhoneRegionNotAllowed / PhoneNotMobile (400),
    CodeResendTooSoon and CodeDailyLimit (429, with retry_after_seconds) and
    SmsUnavailable / SmsBudgetExhausted (503; the code is then not stored).
    """
    phone = normalize_phone(phone)
    phone_check_textable(phone)
    now = timezone.now()
    with transaction.atomic():
        User.objects.select_for_update().filter(pk=user.pk).first()
        _lock_phone(phone)
        last = PhoneVerification.objects.filter(phone=phone).order_by("-created_at").first()
        cooldown = timedelta(seconds=settings.PHONE_CODE_RESEND_SECONDS)
        if last is not None and last.created_at + cooldown > now:
            wait = (last.created_at + cooldown - now).total_seconds()
            raise CodeResendTooSoon(retry_after_seconds=max(1, int(wait + 0.999)))
        _check_daily_limit(user=user, phone=phone, now=now)
        code = _new_code()
        verification = PhoneVerification.objects.create(
            phone=phone,
            user=user,
            code_hash=_code_hash(phone=phone, user=user, code=code),
            created_at=now,
            expires_at=now + timedelta(seconds=settings.PHONE_CODE_TTL_SECONDS),
        )
        if _verified_by_another(phone=phone, user=user):
            # The stored hash is of `code`, which only this message would have told.
            text = gettext(
                "Someone asked to add this number to a Tombola account. It is already verified "
                "on another account, so no code was sent. Ignore this if it was not you."
            )
        else:
            # In the language of the request that asked for the code (Accept-Language).
            minutes = max(1, settings.PHONE_CODE_TTL_SECONDS // 60)
            text = gettext("Your Tombola code: %(code)s. It expires in %(minutes)d min.") % {
                "code": code, "minutes": minutes}
        send_sms(to=phone, text=text)
    return verification


def phone_verification_confirm(*, user: User, phone: str, code: str) -> User:
    """Check `code` for (`phone`, `user`); on success the phone is the user's, verified.

    Locks the newest code row for (phone, user), then the user rows involved.
    A wrong guess is counted even though the call fails. On success releases
    the phone from any account that holds it unverified and counts the user's
    referral (core.services.waitlist.referral_count_if_eligible), all in one
    transaction. Raises InvalidPhone, InvalidCode, CodeExpired, TooManyAttempts.
    """
    phone = normalize_phone(phone)
    with transaction.atomic():
        # Two accounts confirming one number at once take turns: the second then
        # finds it verified by the first.
        _lock_phone(phone)
        error = _check_code(user=user, phone=phone, code=code)
        if error is None:
            user = _take_phone(user=user, phone=phone)
            waitlist.referral_count_if_eligible(user=user)
    # Raised after the commit, so that the counted attempt is kept.
    if error is not None:
        raise error
    return user


def phone_verifications_purge(*, older_than: timedelta) -> int:
    """Delete codes created more than `older_than` ago (they only serve the cooldown
    and attempt counts while fresh). Returns how many rows went."""
    cutoff = timezone.now() - older_than
    floor = timedelta(seconds=max(settings.PHONE_CODE_TTL_SECONDS,
                                  settings.PHONE_CODE_RESEND_SECONDS, DAY.total_seconds()))
    if older_than < floor:
        raise ValueError(f"older_than must be at least {floor} so live codes survive")
    with transaction.atomic():
        deleted, _ = PhoneVerification.objects.filter(created_at__lt=cutoff).delete()
    return deleted


def _lock_phone(phone: str) -> None:
    """Serialise sends for one phone number until the transaction ends.

    The user row lock only orders one user's sends: many accounts asking for one
    victim's number at the same moment would each read the cooldown and the
    day's count before any of them wrote, and each get a code with its guesses.
    A transaction-scoped advisory lock on the number (PostgreSQL) makes them take
    turns; SQLite (development) serialises writers anyway, not these reads.
    Taken after the user row, always in that order, so two sends cannot deadlock.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", ["phone-code:" + phone])


def _check_daily_limit(*, user: User, phone: str, now) -> None:
    """Raise CodeDailyLimit if the phone, or the user, had the day's codes already.

    The phone's count holds whoever asks (many accounts cannot pool their
    guesses on one victim's number); the user's, whichever phones they try.
    Sends for one phone are serialised (_lock_phone), so racing accounts
    cannot each pass this count.
    """
    limit = settings.PHONE_CODE_MAX_PER_DAY
    since = now - DAY
    for recent in (
        PhoneVerification.objects.filter(phone=phone, created_at__gt=since),
        PhoneVerification.objects.filter(user=user, created_at__gt=since),
    ):
        times = list(recent.order_by("-created_at").values_list("created_at", flat=True)[:limit])
        if len(times) >= limit:
            wait = (times[-1] + DAY - now).total_seconds()
            raise CodeDailyLimit(retry_after_seconds=max(1, int(wait + 0.999)))


def _check_code(*, user: User, phone: str, code: str) -> DomainError | None:
    verification = (
        PhoneVerification.objects.select_for_update()
        .filter(phone=phone, user=user)
        .order_by("-created_at", "-id")
        .first()
    )
    if verification is None or verification.verified_at is not None:
        return InvalidCode()
    now = timezone.now()
    if verification.expires_at <= now:
        return CodeExpired()
    if verification.attempts >= settings.PHONE_CODE_MAX_ATTEMPTS:
        return TooManyAttempts()
    expected = verification.code_hash
    if not constant_time_compare(expected, _code_hash(phone=phone, user=user, code=code)):
        verification.attempts += 1  # the row is locked: no lost update
        verification.save(update_fields=["attempts"])
        return InvalidCode()
    if _verified_by_another(phone=phone, user=user):
        return InvalidCode()  # verified elsewhere since the code was sent
    verification.verified_at = now
    verification.save(update_fields=["verified_at"])
    return None


def _take_phone(*, user: User, phone: str) -> User:
    # Another account that merely typed this phone in gives it up (unique column).
    User.objects.filter(phone=phone, phone_verified_at__isnull=True).exclude(pk=user.pk).update(
        phone=None
    )
    locked = User.objects.select_for_update().get(pk=user.pk)
    locked.phone = phone
    locked.phone_verified_at = timezone.now()
    locked.save(update_fields=["phone", "phone_verified_at"])
    return locked


def _verified_by_another(*, phone: str, user: User) -> bool:
    return (
        User.objects.filter(phone=phone, phone_verified_at__isnull=False)
        .exclude(pk=user.pk)
        .exists()
    )


def _new_code() -> str:
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def _code_hash(*, phone: str, user: User, code: str) -> str:
    value = f"{phone}:{user.pk}:{(code or '').strip()}"
    return salted_hmac("tombola.phone-verification", value, algorithm="sha256").hexdigest()
