"""The account emails: confirmation, password reset, email change, notices.

Written in the active language: the language of the request that caused them
(Accept-Language), since each is sent on that request's commit.

Each function sends one mail and is called after the commit of the change it
is about (``transaction.on_commit``), never for a rolled-back one. Links are
built by core/links.py (PUBLIC_BASE_URL, else the address the request came in
on). The waitlist's welcome email is in core/services/waitlist.py.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib.auth.tokens import default_token_generator
from django.core.mail import send_mail
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.utils.translation import gettext

from core.emails import email_masked
from core.links import absolute_url
from core.models import User

SIGNATURE = "\n-- \nTombola\n"


def _send(to: str, subject: str, body: str) -> None:
    send_mail(subject=subject, message=body + SIGNATURE, from_email=None, recipient_list=[to],
              fail_silently=False)


def confirmation_email_send(*, user_id: int) -> None:
    """A registered account's "confirm your address" link (core.services.waitlist tokens)."""
    from core.services.waitlist import email_confirmation_link

    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None or user.email_verified_at is not None:
        return
    _send(user.email, gettext("Confirm your Tombola email address"),
          gettext("Please confirm your email address by opening this link:\n\n"
                  "%(link)s\n\n"
                  "If you did not create a Tombola account, ignore this email.\n")
          % {"link": email_confirmation_link(user)})


def password_reset_link(user: User) -> str:
    """The single-use link: Django's PasswordResetTokenGenerator (it hashes the password,
    the email and the last login, so a used or outdated link no longer checks)."""
    query = urlencode({"uid": urlsafe_base64_encode(force_bytes(user.pk)),
                       "token": default_token_generator.make_token(user)})
    return absolute_url(f"/reset-password?{query}")


def password_reset_email_send(*, user_id: int) -> None:
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        return
    _send(user.email, gettext("Reset your Tombola password"),
          gettext("Someone (hopefully you) asked to reset the password of this Tombola "
                  "account.\n\n"
                  "Choose a new password here: %(link)s\n\n"
                  "The link works once and expires soon. If you did not ask, ignore this "
                  "email: your password stays as it is.\n")
          % {"link": password_reset_link(user)})


def password_changed_notice_send(*, user_id: int) -> None:
    user = User.objects.filter(pk=user_id).first()
    if user is None:
        return
    _send(user.email, gettext("Your Tombola password was changed"),
          gettext("The password of your Tombola account was just changed, and every other "
                  "session was logged out.\n\nIf this was not you, reset your password at "
                  "once: %(link)s\n") % {"link": absolute_url("/reset-password")})


def email_change_confirm_send(*, to: str, link: str) -> None:
    _send(to, gettext("Confirm your new Tombola email address"),
          gettext("Open this link to make this the address of your Tombola account:\n\n"
                  "%(link)s\n\nUntil you do, the account keeps its old address. If you did "
                  "not ask for this, ignore this email.\n") % {"link": link})


def email_change_requested_notice_send(*, to: str, new_email: str) -> None:
    _send(to, gettext("A change of your Tombola email address was requested"),
          gettext("Someone asked to change the address of your Tombola account to "
                  "%(email)s. Nothing changes until the link sent there is opened.\n\n"
                  "If this was not you, change your password now: whoever asked knows it.\n")
          % {"email": email_masked(new_email)})


def email_changed_notice_send(*, to: str, new_email: str) -> None:
    _send(to, gettext("Your Tombola email address was changed"),
          gettext("Your Tombola account now uses %(email)s; this address gets no more mail "
                  "from it.\n\nIf this was not you, contact us at once.\n")
          % {"email": email_masked(new_email)})


def account_deleted_notice_send(*, to: str) -> None:
    _send(to, gettext("Your Tombola account was deleted"),
          gettext("Your Tombola account and the personal data in it were deleted, as you "
                  "asked. Orders and payments are kept without your name or address, as the "
                  "law on accounting requires.\n"))
