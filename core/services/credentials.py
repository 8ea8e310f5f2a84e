"""Credentials and the address: password reset and change, email confirmation and
change, logging out everywhere.

Every function is one transaction; mails go out after the commit
(core/account_emails.py). Answers never tell whether an address has an account:
a reset or a confirmation asked for an unknown address does nothing, silently.
The security-relevant changes (reset, change of password or email, logging out
everywhere) write an audit entry whose data holds no personal data, only ids and
labels (core/audit.py; docs/decisions/2026-11-30-account-deletion-and-audit.md).
"""

from __future__ import annotations

from functools import partial

from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.core import signing
from django.db import transaction
from django.utils import timezone
from django.utils.encoding import force_str
from django.utils.http import urlsafe_base64_decode

from core import account_emails, audit
from core.emails import email_canonical, email_check_visible
from core.errors import (
    EmailTaken,
    ExpiredEmailToken,
    InvalidEmailChangeToken,
    InvalidEmailToken,
    InvalidResetLink,
    WrongCurrentPassword,
)
from core.links import absolute_url
from core.models import User, normalize_email
from core.services import waitlist
from core.services.accounts import _save_unique, _validate_password, user_tokens_revoke

_EMAIL_CHANGE_SALT = "tombola.accounts.email-change"


# --- password reset ---------------------------------------------------------------


def password_reset_request(*, email: str) -> None:
    """Mail a single-use reset link to the active account with this address, if any.

    Nothing happens for an unknown or deactivated address (the caller answers the
    same either way); a waitlist-only account (no password yet) gets a fresh welcome
    link instead, which is how it sets one. Raises InvalidEmail only.
    """
    email_check_visible(email)
    user = User.objects.filter(email_canonical=email_canonical(email), is_active=True).first()
    if user is None:
        return
    if not user.has_usable_password():
        waitlist.email_confirmation_resend(email=user.email)
        return
    transaction.on_commit(partial(account_emails.password_reset_email_send, user_id=user.pk))


def password_reset_user(*, uid: str, token: str) -> User:
    """The account a reset link is for, while the link is good; InvalidResetLink if not.

    Django's PasswordResetTokenGenerator: an HMAC of the user's id, password hash,
    last login and email with a timestamp, valid PASSWORD_RESET_TIMEOUT seconds.
    A new password (this reset) or a new email makes every earlier link fail.
    """
    try:
        pk = int(force_str(urlsafe_base64_decode(uid)))
    except (TypeError, ValueError, OverflowError, UnicodeDecodeError):
        raise InvalidResetLink() from None
    user = User.objects.filter(pk=pk, is_active=True).first()
    if user is None or not user.has_usable_password() \
            or not default_token_generator.check_token(user, token):
        raise InvalidResetLink()
    return user


def password_reset_confirm(*, uid: str, token: str, password: str) -> User:
    """Set a new password from a reset link; every session of the account ends.

    The password passes the same validators as registration. The link is used up
    (the password hash it signed changed). Opening it proved the mailbox, so an
    unconfirmed address is confirmed. Locks the user row. Raises InvalidResetLink,
    InvalidPassword. Revokes every refresh and access token (the save's receiver,
    core.services.accounts.on_user_saved); mails a notice after commit.
    """
    with transaction.atomic():
        user = password_reset_user(uid=uid, token=token)
        locked = User.objects.select_for_update().get(pk=user.pk)
        if locked.password != user.password:  # a concurrent reset won
            raise InvalidResetLink()
        _validate_password(password, user=locked)
        locked.set_password(password)
        fields = ["password"]
        if locked.email_verified_at is None:
            locked.email_verified_at = timezone.now()
            fields.append("email_verified_at")
        locked.save(update_fields=fields)
        audit.record(action="account.password_reset", obj=locked, actor=locked,
                     data={"source": "api"})
        if "email_verified_at" in fields:
            waitlist.referral_count_if_eligible(user=locked)
        transaction.on_commit(partial(account_emails.password_changed_notice_send,
                                      user_id=locked.pk))
    return locked


# --- password change, sessions -----------------------------------------------------------


def user_password_change(*, user: User, current_password: str, new_password: str,
                         source: str = "api") -> User:
    """Change the password; every session ends (the caller issues the asking client a
    new one after this returns: its tokens are refused too).

    Locks the user row. Raises WrongCurrentPassword, InvalidPassword.
    """
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        if not current_password or not locked.check_password(current_password):
            raise WrongCurrentPassword()
        _validate_password(new_password, user=locked)
        locked.set_password(new_password)
        locked.save(update_fields=["password"])  # on_user_saved revokes every token
        audit.record(action="account.password_changed", obj=locked, actor=locked,
                     data={"source": source})
        transaction.on_commit(partial(account_emails.password_changed_notice_send,
                                      user_id=locked.pk))
    return locked


def user_sessions_end(*, user: User, source: str = "api") -> None:
    """Log out everywhere: every refresh token blacklisted, every access token refused."""
    with transaction.atomic():
        user_tokens_revoke(user_id=user.pk)
        audit.record(action="account.sessions_ended", obj=user, actor=user,
                     data={"source": source})


# --- email confirmation --------------------------------------------------------------------


def email_confirmation_send(*, user: User) -> bool:
    """Mail `user` a link confirming its address, unless it is confirmed already or a
    link went out within the cooldown. True when a mail was queued (after commit)."""
    fresh = User.objects.filter(pk=user.pk, is_active=True).first()
    if (fresh is None or fresh.email_verified_at is not None
            or not waitlist.confirmation_resend_allowed(fresh.pk)):
        return False
    send = (waitlist.welcome_email_send if not fresh.has_usable_password()
            else account_emails.confirmation_email_send)
    transaction.on_commit(partial(send, user_id=fresh.pk))
    return True


def email_confirmation_resend_for_token(*, token: str) -> None:
    """The "send me a new link" button of an expired link's page: a fresh link to the
    address the old one was for, if it still is the account's and is unconfirmed.

    The token's signature must hold; its age does not matter. Raises InvalidEmailToken.
    """
    payload = waitlist.email_token_payload(token, any_age=True)
    user = User.objects.filter(pk=payload.get("u"), email=payload.get("e")).first()
    if user is not None:
        email_confirmation_send(user=user)


def email_confirmation_state(*, token: str) -> str:
    """What opening a confirmation link does: "confirmed" (now), "already_confirmed",
    "expired" or "invalid". Confirms through waitlist.email_confirm; one transaction."""
    try:
        payload = waitlist.email_token_payload(token)
    except ExpiredEmailToken:
        return "expired"
    except InvalidEmailToken:
        return "invalid"
    try:
        with transaction.atomic():
            before = User.objects.filter(pk=payload.get("u"), email=payload.get("e")).values_list(
                "email_verified_at", flat=True).first()
            waitlist.email_confirm(token=token)
    except InvalidEmailToken:
        return "invalid"
    return "already_confirmed" if before is not None else "confirmed"


# --- email change ---------------------------------------------------------------------------


def email_change_token(*, user: User, new_email: str) -> str:
    """Signed: the account, the address it has now and the one it asked for. Used once:
    after the change the account's address is no longer the old one."""
    return signing.dumps({"u": user.pk, "old": user.email, "new": new_email},
                         salt=_EMAIL_CHANGE_SALT, compress=True)


def email_change_request(*, user: User, email: str, current_password: str | None) -> str:
    """Ask to move the account to `email`: a link to the new address confirms it; the old
    address is told. Nothing changes until the link is opened (email_change_confirm).

    Returns the normalised new address ("" when it is the current one: nothing to do).
    Raises InvalidEmail, WrongCurrentPassword, EmailTaken.
    """
    email_check_visible(email)
    new_email = normalize_email(email)
    current = User.objects.get(pk=user.pk)
    if new_email == current.email:
        return ""
    if not current_password or not current.check_password(current_password):
        raise WrongCurrentPassword()
    if User.objects.filter(email_canonical=email_canonical(new_email)).exclude(
            pk=current.pk).exists():
        raise EmailTaken()
    token = email_change_token(user=current, new_email=new_email)
    link = absolute_url(f"/confirm-email-change?token={token}")
    with transaction.atomic():
        audit.record(action="account.email_change_requested", obj=current, actor=current,
                     data={"source": "api"})
        transaction.on_commit(partial(account_emails.email_change_confirm_send,
                                      to=new_email, link=link))
        transaction.on_commit(partial(account_emails.email_change_requested_notice_send,
                                      to=current.email, new_email=new_email))
    return new_email


def email_change_confirm(*, token: str) -> User:
    """Move the account to the address of the link; it counts as confirmed.

    Links live EMAIL_CHANGE_TOKEN_MAX_AGE seconds. Locks the user row. Raises
    InvalidEmailChangeToken (bad, used, or the address changed since),
    ExpiredEmailToken, EmailTaken (another account took the address meanwhile).
    Earlier password reset links stop working (they sign the email). The old
    address is told after commit.
    """
    try:
        payload = signing.loads(token, salt=_EMAIL_CHANGE_SALT,
                                max_age=settings.EMAIL_CHANGE_TOKEN_MAX_AGE)
    except signing.SignatureExpired:
        raise ExpiredEmailToken() from None
    except signing.BadSignature:
        raise InvalidEmailChangeToken() from None
    with transaction.atomic():
        user = User.objects.select_for_update().filter(
            pk=payload.get("u"), is_active=True).first()
        if user is None or user.email != payload.get("old"):
            raise InvalidEmailChangeToken()
        old_email = user.email
        user.email, user.email_verified_at = payload["new"], timezone.now()
        _save_unique(user, update_fields=["email", "email_verified_at"])
        audit.record(action="account.email_changed", obj=user, actor=user,
                     data={"source": "api"})
        transaction.on_commit(partial(account_emails.email_changed_notice_send,
                                      to=old_email, new_email=user.email))
    return user
