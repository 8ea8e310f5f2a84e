"""The seat-lock contract (ticketing/seat_locks.py: SeatLockBackend), one suite for
both backends: "db" always, "redis" when REDIS_URL is set (skipped with a reason
otherwise). Backend-specific behaviour stays with its feature's tests (Redis restore
after a restart: test_faults_backends.py; HeldSeat rows: test_holds.py)."""

from __future__ import annotations

import inspect
import time
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from tests.ticketing_helpers import committed, seats
from ticketing.errors import SeatsUnavailable
from ticketing.models import HeldSeat, SeatHold, new_hold_token
from ticketing.seat_locks import (
    DatabaseSeatLocks,
    RedisSeatLocks,
    SeatLockBackend,
    seat_lock_backend,
)

pytest_plugins = ["tests.ticketing_fixtures"]

PROTOCOL_METHODS = sorted(
    name for name, member in vars(SeatLockBackend).items()
    if not name.startswith("_") and inspect.isfunction(member)
)


class Boom(Exception):
    pass


@pytest.fixture
def locks(backend) -> SeatLockBackend:
    locks = seat_lock_backend()
    assert isinstance(locks, SeatLockBackend) and locks.name == backend
    return locks


@pytest.fixture
def seat_ids(sale) -> list[int]:
    return seats(sale, "A", "1", 1, 2, 3, 4)


def held(locks, event, user, seat_ids, *, ttl: float = 60.0) -> SeatHold:
    """A hold over `seat_ids` made the way services/holds.py makes one: claim, row, attach."""
    token, now = new_hold_token(), timezone.now()
    expires_at = now + timedelta(seconds=ttl)
    with transaction.atomic():
        claim = locks.claim(
            event_id=event.pk, seat_ids=seat_ids, token=token, expires_at=expires_at
        )
        hold = SeatHold.objects.create(
            token=token, event=event, user=user, seat_ids=seat_ids, fence=claim.fence,
            created_at=now, expires_at=expires_at,
        )
        locks.attach(hold)
    return hold


def lose_seat(locks, event_id: int, seat_id: int) -> None:
    """The store forgets one seat's lock (a Redis key lost, a row deleted by hand)."""
    if isinstance(locks, RedisSeatLocks):
        locks.client.delete(RedisSeatLocks.seat_key(event_id, seat_id))
    else:
        HeldSeat.objects.filter(event_id=event_id, seat_id=seat_id).delete()


def in_a_minute():
    return timezone.now() + timedelta(seconds=60)


@pytest.mark.parametrize("cls", [RedisSeatLocks, DatabaseSeatLocks])
def test_each_backend_has_the_protocols_methods_with_its_signatures(cls):
    assert PROTOCOL_METHODS == [
        "attach", "claim", "extend", "held_seat_ids", "lost_seats", "mark_free", "mark_sold",
        "release_hold", "undo_claim",
    ]
    for name in PROTOCOL_METHODS:
        assert inspect.signature(getattr(cls, name)) == inspect.signature(
            getattr(SeatLockBackend, name)
        ), name
    public = {n for n in vars(cls) if not n.startswith("_") and callable(getattr(cls, n))}
    # Redis only adds its key names and the restore after a restart.
    assert public - set(PROTOCOL_METHODS) <= {"seat_key", "fence_key", "loaded_key",
                                              "restore_seat_map"}


def test_claim_takes_every_seat_or_none(locks, sale, user, other_user, seat_ids):
    s1, s2, s3, s4 = seat_ids
    held(locks, sale, user, [s1, s2])
    with pytest.raises(SeatsUnavailable) as refused:
        held(locks, sale, other_user, [s2, s3, s4])
    assert refused.value.extra == {"seats": [s2]}
    assert locks.held_seat_ids(sale.pk, seat_ids) == {s1, s2}
    held(locks, sale, other_user, [s3, s4])
    assert locks.held_seat_ids(sale.pk, seat_ids) == set(seat_ids)


def test_fencing_tokens_increase_with_each_hold_of_an_event(locks, sale, user, seat_ids):
    first = held(locks, sale, user, seat_ids[:1])
    second = held(locks, sale, user, seat_ids[1:2])
    assert 0 < first.fence < second.fence
    assert SeatHold.objects.get(pk=first.pk).fence == first.fence


def test_undo_claim_with_the_rollback_leaves_the_seats_free(
    locks, sale, user, other_user, seat_ids
):
    # What services/holds.py does when anything fails after the claim.
    with pytest.raises(Boom), transaction.atomic():
        hold = held(locks, sale, user, seat_ids)
        locks.undo_claim(event_id=sale.pk, seat_ids=seat_ids, token=hold.token)
        raise Boom
    assert locks.held_seat_ids(sale.pk, seat_ids) == set()
    held(locks, sale, other_user, seat_ids)


def test_extend_keeps_every_seat_held_past_the_old_expiry(locks, sale, user, seat_ids):
    hold = held(locks, sale, user, seat_ids[:2], ttl=1.0)
    assert locks.extend(hold, expires_at=in_a_minute()) == []
    time.sleep(1.1)
    assert locks.held_seat_ids(sale.pk, seat_ids) == set(seat_ids[:2])
    assert locks.lost_seats(hold) == []


def test_extend_moves_nothing_when_a_seat_was_lost(locks, sale, user, seat_ids):
    s1, s2 = seat_ids[:2]
    hold = held(locks, sale, user, [s1, s2], ttl=1.0)
    lose_seat(locks, sale.pk, s2)
    assert locks.lost_seats(hold) == [s2]
    assert locks.extend(hold, expires_at=in_a_minute()) == [s2]
    time.sleep(1.1)
    assert locks.held_seat_ids(sale.pk, seat_ids) == set()  # s1 kept its old expiry


def test_release_frees_the_owners_seats_only(locks, sale, user, other_user, seat_ids):
    s1, s2, s3, _ = seat_ids
    mine = held(locks, sale, user, [s1, s2])
    # A hold row that never claimed s2 (another owner's token) cannot free it.
    stranger = SeatHold.objects.create(
        token=new_hold_token(), event=sale, user=other_user, seat_ids=[s2], fence=0,
        created_at=timezone.now(), expires_at=in_a_minute(),
    )
    assert locks.release_hold(stranger) == []
    assert locks.held_seat_ids(sale.pk, seat_ids) == {s1, s2}
    assert locks.release_hold(mine) == [s1, s2]
    assert locks.held_seat_ids(sale.pk, seat_ids) == set()
    held(locks, sale, other_user, [s1, s2, s3])


def test_an_expired_lock_frees_its_seats_and_is_taken_over(
    locks, sale, user, other_user, seat_ids
):
    s1, s2 = seat_ids[:2]
    old = held(locks, sale, user, [s1, s2], ttl=0.2)
    time.sleep(0.3)
    assert locks.held_seat_ids(sale.pk, seat_ids) == set()
    assert locks.lost_seats(old) == [s1, s2]
    assert locks.extend(old, expires_at=in_a_minute()) == [s1, s2]
    new = held(locks, sale, other_user, [s2])
    # Releasing the old hold announces s1 only: s2 is the new hold's now.
    assert locks.release_hold(old) == [s1]
    assert locks.held_seat_ids(sale.pk, seat_ids) == {s2}
    assert locks.lost_seats(new) == []


def test_held_seat_ids_answers_for_the_given_seats_only(locks, sale, user, seat_ids):
    s1, s2, s3, _ = seat_ids
    held(locks, sale, user, [s1, s2])
    assert locks.held_seat_ids(sale.pk, [s2, s3]) == {s2}
    assert locks.held_seat_ids(sale.pk, [s3]) == set()
    assert locks.held_seat_ids(sale.pk, []) == set()


def test_sold_seats_stop_being_held_and_are_free_after_a_refund(
    locks, sale, user, other_user, seat_ids
):
    s1, s2 = seat_ids[:2]
    hold = held(locks, sale, user, [s1, s2])
    committed(locks.mark_sold, hold)
    assert locks.held_seat_ids(sale.pk, seat_ids) == set()
    committed(locks.mark_free, event_id=sale.pk, seat_ids=[s1, s2], token=hold.token)
    again = held(locks, sale, other_user, [s1, s2])
    assert locks.held_seat_ids(sale.pk, seat_ids) == {s1, s2}
    assert locks.lost_seats(again) == []
