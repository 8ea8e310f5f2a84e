"""Wallet writes. Every movement is a ledger row with the balance after it."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models import F

from core import audit
from core.errors import DomainError
from core.models import User
from ticketing import conf
from ticketing.models import Wallet, WalletTransaction


def locked_wallet(user_id: int) -> Wallet:
    """The user's wallet row, locked (SELECT ... FOR UPDATE); created empty if missing.

    Call inside a transaction.
    """
    wallet = Wallet.objects.select_for_update().filter(user_id=user_id).first()
    if wallet is not None:
        return wallet
    try:
        with transaction.atomic():
            Wallet.objects.create(user_id=user_id)
    except IntegrityError:
        pass  # created concurrently; lock theirs
    return Wallet.objects.select_for_update().get(user_id=user_id)


def wallet_move_money(
    *, wallet: Wallet, amount: int, kind: str, reference: str, actor: User | None
) -> WalletTransaction:
    """Apply a signed amount to a locked wallet; write its ledger row and audit entry.

    The balance moves with F() and the check constraint refuses a negative
    balance; callers check funds first to answer with a clear error. The audit
    entry (core.audit, hash-chained later by the sealer) is written in the same
    transaction, so it exists exactly when the movement does.
    """
    Wallet.objects.filter(pk=wallet.pk).update(balance=F("balance") + amount)
    wallet.balance += amount
    entry = WalletTransaction.objects.create(
        wallet=wallet, kind=kind, amount=amount, balance_after=wallet.balance, reference=reference
    )
    audit.record(
        action=f"wallet.{kind}",
        obj=wallet,
        actor=actor,
        data={"amount": amount, "balance_after": wallet.balance, "reference": reference,
              "transaction": entry.pk},
    )
    return entry


@transaction.atomic
def wallet_top_up(*, user: User, amount: int, reference: str = "") -> WalletTransaction:
    """Credit `amount` minor units (no payment gateway). Locks the wallet row."""
    if amount <= 0 or amount > conf.get("TICKETING_MAX_TOP_UP"):
        raise DomainError(
            f"A top-up is between 1 and {conf.get('TICKETING_MAX_TOP_UP')} minor units.",
            code="invalid_amount",
        )
    wallet = locked_wallet(user.pk)
    return wallet_move_money(
        wallet=wallet, amount=amount, kind=WalletTransaction.Kind.TOP_UP, reference=reference,
        actor=user,
    )
