"""seat_lock_transaction: hold claims and purchases run in their own (durable)
transaction, and on PostgreSQL a row lock stuck in another transaction answers
503 "busy" promptly instead of hanging the request (lock_timeout)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from tests.conftest import client_for
from tests.ticketing_helpers import fund, hold, make_event, seat, seats
from ticketing.models import HeldSeat, Order, SeatHold, Wallet, new_hold_token
from ticketing.services.holds import hold_create
from ticketing.services.orders import hold_purchase

pytest_plugins = ["tests.ticketing_fixtures"]

TIMEOUT_MS = 200


@contextmanager
def locked_elsewhere(lock: Callable[[], object]):
    """Run `lock` in a transaction on another connection and keep it open (rolled
    back at the end) while the block runs."""
    locked, done, errors = threading.Event(), threading.Event(), []

    def hold_lock():
        try:
            with transaction.atomic():
                lock()
                locked.set()
                done.wait(timeout=30)
                transaction.set_rollback(True)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
            locked.set()
        finally:
            connection.close()

    thread = threading.Thread(target=hold_lock)
    thread.start()
    assert locked.wait(timeout=10) and not errors, errors
    try:
        yield
    finally:
        done.set()
        thread.join(timeout=10)
    assert not errors, errors


def test_claim_and_purchase_refuse_to_run_inside_a_callers_transaction(user, sale):
    fund(user)
    wanted = seats(sale, "A", "1", 1)
    with pytest.raises(RuntimeError, match="durable"), transaction.atomic():
        hold_create(event=sale, user=user, seat_ids=wanted)
    held = hold_create(event=sale, user=user, seat_ids=wanted)
    with pytest.raises(RuntimeError, match="durable"), transaction.atomic():
        hold_purchase(token=held.token, user=user)
    assert not Order.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_purchase_answers_busy_while_another_transaction_locks_the_wallet(
    user, sale, settings
):
    settings.TICKETING_SEAT_LOCK_TIMEOUT_MS = TIMEOUT_MS
    fund(user, 10_000)
    held = hold_create(event=sale, user=user, seat_ids=seats(sale, "A", "1", 1))
    api = client_for(user)
    # A stuck top-up, say: the wallet row stays locked.
    with locked_elsewhere(lambda: list(Wallet.objects.select_for_update().filter(user=user))):
        started = time.monotonic()
        response = api.post(f"/api/holds/{held.token}/purchase/")
        elapsed = time.monotonic() - started
    assert response.status_code == 503, response.json()
    assert response.json()["code"] == "busy"
    assert elapsed < 3  # the 200 ms lock wait plus the request on a loaded machine
    assert not Order.objects.exists()
    assert SeatHold.objects.get(pk=held.pk).status == "active"
    assert Wallet.objects.get(user=user).balance == 10_000
    # The lock gone, the same request goes through.
    assert api.post(f"/api/holds/{held.token}/purchase/").status_code == 201


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_hold_answers_busy_while_another_transaction_claims_the_seat(
    user, other_user, venue, settings
):
    settings.TICKETING_HOLD_BACKEND = "db"  # Redis refuses a held seat before any row lock
    settings.TICKETING_SEAT_LOCK_TIMEOUT_MS = TIMEOUT_MS
    event = make_event(venue)
    wanted = seat(event, "A", "1", 1)

    def claim_uncommitted():
        now = timezone.now()
        theirs = SeatHold.objects.create(
            token=new_hold_token(), event=event, user=other_user, seat_ids=[wanted], fence=0,
            created_at=now, expires_at=now + timedelta(minutes=1),
        )
        HeldSeat.objects.create(hold=theirs, event=event, seat_id=wanted,
                                expires_at=theirs.expires_at)

    with locked_elsewhere(claim_uncommitted):
        started = time.monotonic()
        response = hold(client_for(user), event, [wanted])
        elapsed = time.monotonic() - started
    assert response.status_code == 503, response.json()
    assert response.json()["code"] == "busy"
    assert elapsed < 3
    assert not SeatHold.objects.exists()
    assert hold(client_for(user), event, [wanted]).status_code == 201


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_hold_refused_at_commit_frees_its_redis_seats(settings, venue, user, other_user):
    # PostgreSQL checks the new hold's foreign keys at COMMIT (Django makes them
    # deferred): a transaction that keeps the buyer's user row locked (a profile
    # update, a phone verification) turns the COMMIT into 503 busy. The seats the
    # Redis script claimed must be free at once, not after the hold's TTL.
    from core.models import User
    from ticketing.errors import SeatLocksBusy

    settings.TICKETING_HOLD_BACKEND = "redis"
    settings.TICKETING_SEAT_LOCK_TIMEOUT_MS = TIMEOUT_MS
    event = make_event(venue)
    wanted = seats(event, "A", "1", 1, 2)
    with locked_elsewhere(lambda: User.objects.select_for_update().get(pk=user.pk)), \
            pytest.raises(SeatLocksBusy):
        hold_create(event=event, user=user, seat_ids=wanted)
    assert not SeatHold.objects.exists()
    held = hold_create(event=event, user=other_user, seat_ids=wanted)
    assert sorted(held.seat_ids) == sorted(wanted)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_purchase_racing_an_unpublish_waits_for_it_and_sells_nothing(user, sale):
    # The event is read with the hold, unlocked: an unpublish committing meanwhile
    # must not be followed by a sale (the order's foreign key is only checked at
    # COMMIT, after the unpublish, and would pass).
    from core.models import Event
    from ticketing.errors import SaleClosed

    fund(user, 100_000)
    held = hold_create(event=sale, user=user, seat_ids=seats(sale, "A", "1", 1))
    locked, errors = threading.Event(), []

    def unpublish():
        try:
            with transaction.atomic():
                Event.objects.select_for_update().get(pk=sale.pk)
                locked.set()
                time.sleep(0.5)  # the purchase starts meanwhile
                Event.objects.filter(pk=sale.pk).update(status=Event.Status.DRAFT)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
            locked.set()
        finally:
            connection.close()

    thread = threading.Thread(target=unpublish)
    thread.start()
    assert locked.wait(timeout=10)
    with pytest.raises(SaleClosed):
        hold_purchase(token=held.token, user=user)
    thread.join(timeout=10)
    assert not errors, errors
    assert not Order.objects.exists()
    assert Wallet.objects.get(user=user).balance == 100_000
