"""Ticketing's part of a person's data export and account erasure (core/personal_data.py).

Kept on erasure, pointing at the anonymised account: the wallet and its ledger, payments,
orders and tickets (accounting), seat history. Deleted: idempotency replies
(stored answers) and waiting-list places (their mailbox is personal; an offer's hold is
released with the other live holds). Live holds are released after the erasure commits. Money left
in the wallet blocks the erasure: it is the person's (staff can refund it to its
payment), and so does a payment still pending, which would credit it later
(docs/decisions/2026-11-30-account-deletion-and-audit.md).
"""

from __future__ import annotations

import contextlib

from django.utils import timezone

from core.models import User
from core.personal_data import PersonalDataSection
from ticketing.errors import HoldExpired, HoldNotFound
from ticketing.models import (
    IdempotencyKey,
    Order,
    Payment,
    SeatHold,
    SeatStatusChange,
    Ticket,
    WaitingListEntry,
    Wallet,
)


def export(user: User) -> dict:
    wallet = Wallet.objects.filter(user=user).first()
    return {
        "wallet": None if wallet is None else {
            "balance": wallet.balance, "updated_at": wallet.updated_at,
            "transactions": list(wallet.transactions.order_by("created_at", "id").values(
                "id", "kind", "amount", "balance_after", "reference", "created_at")),
        },
        "payments": list(Payment.objects.filter(user=user).order_by("created_at", "id").values(
            "id", "provider", "provider_id", "reference", "amount", "currency", "status",
            "created_at", "succeeded_at", "refunded_at")),
        "orders": list(Order.objects.filter(user=user).order_by("created_at", "id").values(
            "id", "event_id", "event__title", "status", "total", "created_at")),
        "tickets": list(Ticket.objects.filter(user=user).order_by("created_at", "id").values(
            "id", "order_id", "event_id", "event__title", "seat__row__section__name",
            "seat__row__label", "seat__label", "price", "status", "created_at",
            "cancelled_at")),
        # The hold token is left out: it is a credential, not information about the person.
        "holds": list(SeatHold.objects.filter(user=user).order_by("created_at", "id").values(
            "id", "event_id", "status", "seat_ids", "total", "created_at", "expires_at")),
        "waiting_lists": list(WaitingListEntry.objects.filter(user=user).order_by("id").values(
            "id", "event_id", "event__title", "section_id", "seats", "status", "created_at",
            "offered_at", "offer_expires_at", "closed_at")),
        "seat_changes": list(SeatStatusChange.objects.filter(user=user).order_by("id").values(
            "event_id", "seat_id", "from_status", "to_status", "reason", "created_at")),
    }


def audit_objects(user: User) -> list[tuple[str, str]]:
    return [(model._meta.label_lower, str(pk)) for model in (Wallet, Payment)
            for pk in model.objects.filter(user=user).values_list("pk", flat=True)]


def blockers(user: User) -> list[dict]:
    balance = Wallet.objects.filter(user=user).values_list("balance", flat=True).first() or 0
    if balance > 0:
        return [{"code": "wallet_not_empty", "balance": balance,
                 "detail": "The wallet still holds money; ask for a payout first."}]
    if Payment.objects.filter(user=user, status=Payment.Status.PENDING).exists():
        return [{"code": "payment_pending",
                 "detail": "A top-up is still waiting for its money; it would credit the "
                           "wallet after the erasure."}]
    return []


def erase(user: User) -> None:
    IdempotencyKey.objects.filter(user=user).delete()
    WaitingListEntry.objects.filter(user=user).delete()


def release_live_holds(user: User) -> None:
    from ticketing.services.holds import hold_release

    live = SeatHold.objects.filter(user=user, status=SeatHold.Status.ACTIVE,
                                   expires_at__gt=timezone.now())
    for token in live.values_list("token", flat=True):
        with contextlib.suppress(HoldExpired, HoldNotFound):  # expired or bought meanwhile
            hold_release(token=token, user=user)


SECTION = PersonalDataSection(
    name="ticketing", export=export, audit_objects=audit_objects, blockers=blockers,
    erase=erase, after_erase=release_live_holds,
)
