"""Account writes: registration, profile changes, logout.

Emails are stored normalised and compared in their canonical form (core/emails.py:
NFKC, case-folded; unique in the database), phones in E.164
(core.phones.normalize_phone). Every function here is one transaction: an error
leaves nothing half-written.
"""

from __future__ import annotations

import datetime
from functools import partial
from typing import Any

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import RefreshToken

from core.account_emails import confirmation_email_send
from core.authentication import CLAIM_FIELDS, tokens_deny
from core.emails import email_canonical, email_check_visible
from core.errors import (
    EmailConfirmationRequired,
    EmailTaken,
    InvalidEmailToken,
    InvalidPassword,
    InvalidRefreshToken,
    PhoneTaken,
    WrongCurrentPassword,
)
from core.models import User, normalize_email
from core.phones import normalize_phone
from core.services import waitlist

PROFILE_FIELDS = ("first_name", "last_name", "patronymic", "birthday", "address")


def user_register(
    *,
    email: str,
    password: str,
    first_name: str = "",
    last_name: str = "",
    patronymic: str = "",
    birthday: datetime.date | None = None,
    address: str = "",
    phone: str | None = None,
    referral_code: str | None = None,
    email_token: str | None = None,
) -> User:
    """Create an account, or complete the waitlist-only account with this email.

    A waitlist sign-up (core.api.waitlist) leaves an account with an unusable
    password; registering with its email sets the password and profile and
    keeps its referral code and date_joined (its place in the queue). That needs
    `email_token`, the signed token of the welcome email's link: knowing an
    address must not be enough to take its account over. Staff accounts are
    never completed this way. The referrer credited is the one of
    `referral_code`, else the one the token's link was sent for, while no
    referral was counted (squatting: core/services/waitlist.py); the token
    verified the address, so the referral counts now.

    A phone is stored unverified whoever else has it: the answer must not tell
    whether a number belongs to an account; verification decides
    (core.services.phone_verification).

    Locks the existing account row with this email, if any. Raises EmailTaken
    (an account with a usable password, a staff or a deactivated one has it),
    EmailConfirmationRequired (409) / InvalidEmailToken (400), InvalidEmail,
    InvalidPassword, InvalidPhone, UnknownReferralCode (404) and SelfReferral.
    The referral is attached through core.services.waitlist.referral_attach.
    """
    email_check_visible(email)
    email = normalize_email(email)
    phone = normalize_phone(phone) if phone else None
    # An unknown code fails before any hashing or writing.
    referrer = waitlist.referrer_for_code(referral_code) if referral_code else None
    with transaction.atomic():
        user = (User.objects.select_for_update()
                .filter(email_canonical=email_canonical(email)).first())
        # Only a live waitlist sign-up can be completed; a deactivated one stays
        # shut, and staff accounts are never completed by registering.
        if user is not None and (user.has_usable_password() or not user.is_active
                                 or user.is_staff or user.is_superuser):
            raise EmailTaken()
        completing = False
        if user is None:
            user = User(email=email)
        else:
            # Completing an existing account needs proof that the caller owns the
            # address: the signed token of the welcome email's link.
            payload = _check_email_token(email_token, user=user)
            user.email_verified_at = user.email_verified_at or timezone.now()
            completing = True
        profile = {
            "first_name": first_name, "last_name": last_name, "patronymic": patronymic,
            "birthday": birthday, "address": address,
        }
        for name, value in profile.items():
            setattr(user, name, value)
        if phone is not None:
            user.phone = phone
        _validate_password(password, user=user)
        user.set_password(password)
        _save_unique(user)
        if completing and "r" in payload and referrer is None:
            # The referrer the owner's link was sent for, not a squatter's (waitlist.py).
            waitlist.referral_reassign(user=user, referrer_id=payload["r"])
        if referrer is not None:
            # The owner proved the address: their code wins over an uncounted squatter's.
            waitlist.referral_attach(user=user, referrer=referrer, replace_uncounted=completing)
        if completing:
            waitlist.referral_count_if_eligible(user=user)
        else:
            # The links of this mail open the project's confirm-email page (core/pages.py).
            transaction.on_commit(partial(confirmation_email_send, user_id=user.pk))
    return user


def user_update(
    *, user: User, data: dict[str, Any], current_password: str | None = None
) -> User:
    """Change `user`'s profile: any of PROFILE_FIELDS, ``phone``, ``email``.

    A new phone (or none) clears phone_verified_at; the number must be verified
    again (core.services.phone_verification), and is accepted whoever else has
    it (the answer must not reveal that). A new email needs `current_password`
    (so a stolen access token cannot take the account over) and is not set
    here: a link to it confirms the change first, the old address is told
    (credentials.email_change_request). A new ``password`` needs
    `current_password` too, must pass the validators, and ends every session
    of the user, this one included (on_user_saved). Locks the user row. Raises
    EmailTaken, InvalidEmail,
    WrongCurrentPassword, InvalidPassword, InvalidPhone.
    """
    unknown = set(data) - {*PROFILE_FIELDS, "phone", "email", "password"}
    if unknown:
        raise ValueError(f"user_update cannot change {sorted(unknown)}")
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        changed: list[str] = []
        for name in PROFILE_FIELDS:
            if name in data and getattr(locked, name) != data[name]:
                setattr(locked, name, data[name])
                changed.append(name)
        if "phone" in data:
            phone = normalize_phone(data["phone"]) if data["phone"] else None
            if phone != locked.phone:
                locked.phone, locked.phone_verified_at = phone, None
                changed += ["phone", "phone_verified_at"]
        if "email" in data:
            # Confirmed before it replaces the old one (core.services.credentials).
            from core.services.credentials import email_change_request

            email_change_request(user=locked, email=data["email"],
                                 current_password=current_password)
        if data.get("password"):
            if not current_password or not locked.check_password(current_password):
                raise WrongCurrentPassword()
            _validate_password(data["password"], user=locked)
            locked.set_password(data["password"])
            changed.append("password")
        if changed:
            _save_unique(locked, update_fields=changed)
    return locked


def auth_logout(*, refresh: str) -> None:
    """Blacklist the refresh token (and so end the session it belongs to).

    Raises InvalidRefreshToken for a malformed, expired, wrong-type or already
    blacklisted token.
    """
    try:
        with transaction.atomic():
            RefreshToken(refresh).blacklist()
    except TokenError as exc:
        raise InvalidRefreshToken() from exc


def user_tokens_revoke(*, user_id: int) -> None:
    """End every session of the user: refresh tokens blacklisted, access tokens refused.

    Access tokens are authenticated from their claims without reading the user
    (core/authentication.py), so they are refused through the deny list, at
    once and again after the surrounding transaction commits (a login racing
    the change must not keep a session). Called for deactivation, a new
    password, a change of staff rights and deletion (the receivers below).
    """
    from rest_framework_simplejwt.token_blacklist.models import (
        BlacklistedToken,
        OutstandingToken,
    )

    tokens_deny(user_id=user_id)
    with transaction.atomic():
        live = OutstandingToken.objects.filter(user_id=user_id, blacklistedtoken__isnull=True)
        BlacklistedToken.objects.bulk_create(
            [BlacklistedToken(token=token) for token in live], ignore_conflicts=True)
    transaction.on_commit(partial(tokens_deny, user_id=user_id))


# What a token claims about its user (core/authentication.py): a change ends the sessions.
_CLAIMED_FIELDS = {"is_active", *CLAIM_FIELDS}


def on_user_saving(sender, instance: User, update_fields=None, **kwargs) -> None:
    """pre_save receiver: note the claimed fields as stored, to see them change."""
    if instance.pk is None or instance._state.adding:
        return
    if update_fields is not None and not _CLAIMED_FIELDS.intersection(update_fields):
        return
    instance._claimed_before = (
        User.objects.filter(pk=instance.pk).values(*sorted(_CLAIMED_FIELDS)).first())


def on_user_saved(sender, instance: User, created: bool, **kwargs) -> None:
    """post_save receiver: deactivation, a new password or new staff rights end every
    session, whichever path saved the user (admin, services, shell)."""
    before = instance.__dict__.pop("_claimed_before", None)
    if created:
        return
    password_changed = getattr(instance, "_password", None) is not None  # set_password()
    claims_changed = before is not None and any(
        before[name] != getattr(instance, name) for name in _CLAIMED_FIELDS)
    if password_changed or claims_changed or not instance.is_active:
        user_tokens_revoke(user_id=instance.pk)


def on_user_deleting(sender, instance: User, **kwargs) -> None:
    """pre_delete receiver: a deleted user's tokens are refused (and its refresh tokens
    blacklisted before the delete unlinks them)."""
    user_tokens_revoke(user_id=instance.pk)


def _check_email_token(token: str | None, *, user: User) -> dict:
    if not token:
        raise EmailConfirmationRequired()
    payload = waitlist.email_token_payload(token)
    if payload.get("u") != user.pk or payload.get("e") != user.email:
        raise InvalidEmailToken()
    return payload


def _validate_password(password: str, *, user: User) -> None:
    try:
        validate_password(password, user=user)
    except DjangoValidationError as exc:
        raise InvalidPassword(list(exc.messages)) from None


def _save_unique(user: User, **kwargs: Any) -> None:
    """Save; a unique clash with a concurrent request becomes EmailTaken / PhoneTaken."""
    try:
        with transaction.atomic():
            user.save(**kwargs)
    except IntegrityError:
        clashes = User.objects.exclude(pk=user.pk) if user.pk else User.objects.all()
        if clashes.filter(email_canonical=email_canonical(user.email)).exists():
            raise EmailTaken() from None
        if user.phone and user.phone_verified_at and clashes.filter(
                phone=user.phone, phone_verified_at__isnull=False).exists():
            raise PhoneTaken() from None
        raise
