"""Wallet writes. Every movement is a ledger row with the balance after it."""

from __future__ import annotations

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext

from core import audit
from core.errors import DomainError
from core.models import User
from ticketing.errors import InsufficientFunds
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
    # update() skips auto_now: updated_at moves with the balance, in the same statement.
    now = timezone.now()
    Wallet.objects.filter(pk=wallet.pk).update(balance=F("balance") + amount, updated_at=now)
    wallet.balance += amount
    wallet.updated_at = now
    return _ledger_entry(wallet=wallet, amount=amount, kind=kind, reference=reference, actor=actor)


def wallet_debit(
    *, user: User, amount: int, kind: str, reference: str, actor: User | None
) -> WalletTransaction:
    """Take `amount` from `user`'s wallet if it holds that much; ledger row and audit entry.

    Call inside a transaction. One conditional UPDATE both locks the wallet row
    and moves the balance (the purchase's hot path: no SELECT ... FOR UPDATE
    first). When it matches nothing, the wallet is missing or short: the slow
    path locks (or creates) it and raises InsufficientFunds with the balance.
    """
    table = Wallet._meta.db_table
    now = timezone.now()
    with connection.cursor() as cursor:
        # Raw SQL skips auto_now too: updated_at moves with the balance, same statement.
        cursor.execute(
            f"UPDATE {table} SET balance = balance - %s, updated_at = %s "  # noqa: S608
            "WHERE user_id = %s AND balance >= %s RETURNING id, balance",
            [amount, connection.ops.adapt_datetimefield_value(now), user.pk, amount],
        )
        row = cursor.fetchone()
    if row is None:
        wallet = locked_wallet(user.pk)
        if wallet.balance < amount:
            raise InsufficientFunds(extra={"balance": wallet.balance, "total": amount})
        return wallet_move_money(wallet=wallet, amount=-amount, kind=kind, reference=reference,
                                 actor=actor)
    wallet = Wallet(pk=row[0], user_id=user.pk, balance=row[1], updated_at=now)
    return _ledger_entry(wallet=wallet, amount=-amount, kind=kind, reference=reference,
                         actor=actor)


def _ledger_entry(
    *, wallet: Wallet, amount: int, kind: str, reference: str, actor: User | None
) -> WalletTransaction:
    """The ledger row and the audit entry of a movement already applied to `wallet.balance`."""
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
    if amount <= 0 or amount > settings.TICKETING_MAX_TOP_UP:
        raise DomainError(
            gettext("A top-up is between 1 and %(max)d minor units.")
            % {"max": settings.TICKETING_MAX_TOP_UP},
            code="invalid_amount",
        )
    wallet = locked_wallet(user.pk)
    return wallet_move_money(
        wallet=wallet, amount=amount, kind=WalletTransaction.Kind.TOP_UP, reference=reference,
        actor=user,
    )
