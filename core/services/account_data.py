"""A person's data: the export (GDPR art. 15) and the erasure of the account (art. 17).

The erasure anonymises the account row instead of deleting it: orders, tickets,
the wallet and its ledger, and wins must stay for the accounts (and are
PROTECTed foreign keys); they keep their amounts and ids and lose, with the
row, the name, the email, the phone, the birthday and the address. Audit
entries are not touched: they carry ids, never personal data, so the hash chain
still verifies (docs/decisions/2026-11-30-account-deletion-and-audit.md).
"""

from __future__ import annotations

import logging
import secrets
from functools import partial
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from core import account_emails, audit
from core.errors import AccountDeletionBlocked, ReauthenticationRequired
from core.jsonutil import to_jsonable
from core.models import AuditEntry, PhoneVerification, User, new_referral_code
from core.personal_data import personal_data_sections

logger = logging.getLogger(__name__)

ERASED_DOMAIN = "deleted.invalid"  # RFC 2606: never a real mailbox
ACCOUNT_FIELDS = (
    "id", "email", "first_name", "last_name", "patronymic", "birthday", "address", "phone",
    "phone_verified_at", "email_verified_at", "referral_code", "referral_count",
    "referral_counted_at", "date_joined", "last_login", "is_active",
)


def user_data_export(*, user: User) -> dict[str, Any]:
    """Everything the service holds about `user`, as one JSON-ready dict: the account,
    phone verifications, referrals, sessions, each app's section (wallet, ledger,
    orders, tickets, holds, check-ins, draw entries and ballots, wins and claims, ...)
    and the audit entries about the user or the user's objects."""
    from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

    account = User.objects.filter(pk=user.pk).values(*ACCOUNT_FIELDS).get()
    referrer = User.objects.filter(referees__pk=user.pk).values_list(
        "referral_code", flat=True).first()
    data: dict[str, Any] = {
        "exported_at": timezone.now(),
        "account": {**account, "referred_by_code": referrer},
        "referrals": list(User.objects.filter(referred_by_id=user.pk).order_by("date_joined")
                          .values("date_joined", "referral_counted_at")),
        "phone_verifications": list(
            PhoneVerification.objects.filter(user_id=user.pk).order_by("created_at")
            .values("phone", "created_at", "expires_at", "attempts", "verified_at")),
        "sessions": list(
            OutstandingToken.objects.filter(user_id=user.pk).order_by("created_at")
            .values("created_at", "expires_at", "blacklistedtoken__blacklisted_at")),
    }
    about = Q(actor_id=user.pk) | Q(object_type=User._meta.label_lower, object_id=str(user.pk))
    for section in personal_data_sections():
        data[section.name] = section.export(user)
        for object_type, object_id in section.audit_objects(user):
            about |= Q(object_type=object_type, object_id=str(object_id))
    data["audit_entries"] = list(
        AuditEntry.objects.filter(about).order_by("id")
        .values("created_at", "action", "actor_id", "object_type", "object_id", "data",
                "chain_seq", "hash"))
    return to_jsonable(data)


def user_erase(*, user: User, password: str | None, recent_login: bool = False,
               source: str = "api") -> None:
    """Delete `user`'s account for good: personal data removed or anonymised.

    Needs the password, or `recent_login` (the caller's session began within
    ACCOUNT_DELETE_RECENT_LOGIN_SECONDS): ReauthenticationRequired otherwise.
    Raises AccountDeletionBlocked (409) with `reasons` while the account holds
    something of value or duty: money in the wallet, a prize still to claim, staff
    rights (each app's PersonalDataSection.blockers). Locks the user row.

    In one transaction: each app's section erases (entries of open draws, idempotency
    replies, notification addresses); phone verifications are deleted; the row gets
    a placeholder address, no name, phone, birthday, address or password, a fresh
    referral code, and is deactivated (which ends every session: the save's receiver);
    an ``account.deleted`` audit entry without personal data. After the commit: the
    old address is told, and each section's after_erase runs (live seat holds are
    released).
    """
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        if not recent_login and not (password and locked.check_password(password)):
            raise ReauthenticationRequired()
        reasons: list[dict] = []
        if locked.is_staff or locked.is_superuser:
            reasons.append({"code": "staff_account",
                            "detail": "Staff accounts are removed by an administrator."})
        sections = personal_data_sections()
        for section in sections:
            reasons += section.blockers(locked)
        if reasons:
            raise AccountDeletionBlocked(reasons)
        for section in sections:
            if section.erase is not None:
                section.erase(locked)
        old_email = locked.email
        PhoneVerification.objects.filter(user_id=locked.pk).delete()
        _anonymise(locked)
        audit.record(action="account.deleted", obj=locked, actor=locked,
                     data={"source": source})
        transaction.on_commit(partial(account_emails.account_deleted_notice_send, to=old_email))
        for section in sections:
            if section.after_erase is not None:
                transaction.on_commit(partial(_after_erase, section.after_erase, locked))


def _anonymise(user: User) -> None:
    user.email = f"deleted-{user.pk}-{secrets.token_hex(4)}@{ERASED_DOMAIN}"
    user.first_name = user.last_name = user.patronymic = user.address = ""
    user.birthday = user.phone = user.phone_verified_at = user.email_verified_at = None
    user.referred_by = None
    user.referral_code = new_referral_code()
    user.last_login = None
    user.is_active = False
    user.set_unusable_password()
    user.save()  # every field: the token and ranking receivers see is_active change


def _after_erase(step, user: User) -> None:
    # The account is gone already; a step that fails (e.g. Redis down while releasing
    # holds, which then expire by themselves) must not turn that into an error.
    try:
        step(user)
    except Exception:
        logger.exception("account erasure of user %s: an after-commit step failed", user.pk)
