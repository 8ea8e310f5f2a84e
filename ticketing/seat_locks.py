"""Seat locks: who owns a seat of an event right now (the hold service is
ticketing/services/holds.py; this module only decides seat ownership).

One contract, ``SeatLockBackend``, two implementations, picked by
settings.TICKETING_HOLD_BACKEND:

- ``RedisSeatLocks``: one Lua script per hold / extend / release / verify /
  sell over all the seats of the request, so a request either gets every seat
  or changes nothing, and contention never reaches the database. Seat keys
  carry the hold's token and the TTL; a per-event counter hands out fencing
  tokens. Sold seats carry the marker ``sold`` (no TTL) so that holds fail
  fast, but the database stays the arbiter (see services.hold_purchase).
- ``DatabaseSeatLocks``: HeldSeat rows with a unique constraint on
  (event, seat); an expired row is taken over by the next hold.

The SeatHold row (owner, seats, expiry, fence) exists in both backends; the
backend only decides ownership of seats. Callers run inside the service's
transaction. tests/test_seat_locks_contract.py runs one suite against both.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from django.conf import settings
from django.db import IntegrityError, OperationalError, connection, transaction
from django.utils import timezone

from core.errors import is_redis_unavailable
from core.metrics import SEAT_MAP_RESTORES
from core.redis import get_redis, key
from ticketing.errors import SeatLocksBusy, SeatLocksUnavailable, SeatsUnavailable
from ticketing.models import HeldSeat, SeatHold, Ticket

logger = logging.getLogger(__name__)

SOLD = "sold"

# Every script that decides ownership starts with KEYS[1] = the event's "seat map
# loaded" marker: a Redis that lost its keys (a restart without persistence) has
# lost the marker too, and the script refuses with 'unloaded' until
# restore_seat_map() has put the live holds and sold seats back from the database.
LOADED_CHECK = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 'unloaded' end
"""

# KEYS[1] marker, KEYS[2] fence counter, KEYS[3..] seat keys; ARGV token, ttl ms.
# -> {1, fence} or {0, {indexes of taken seats}}
HOLD_LUA = LOADED_CHECK + """
local taken = {}
for i = 3, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then taken[#taken + 1] = i - 2 end
end
if #taken > 0 then return {0, taken} end
if redis.call('EXISTS', KEYS[2]) == 0 then
  -- A lost counter restarts from the clock (microseconds), so fences never go back.
  local t = redis.call('TIME')
  redis.call('SET', KEYS[2], t[1] .. string.format('%06d', tonumber(t[2])))
end
local fence = redis.call('INCR', KEYS[2])
for i = 3, #KEYS do
  redis.call('SET', KEYS[i], ARGV[1], 'PX', ARGV[2])
end
return {1, fence}
"""

# KEYS[1] marker, KEYS[2..] seat keys; ARGV token, ttl ms. Extends only when every
# seat is still ours. -> {1} or {0, {indexes of lost seats}}
EXTEND_LUA = LOADED_CHECK + """
local lost = {}
for i = 2, #KEYS do
  if redis.call('GET', KEYS[i]) ~= ARGV[1] then lost[#lost + 1] = i - 1 end
end
if #lost > 0 then return {0, lost} end
for i = 2, #KEYS do redis.call('PEXPIRE', KEYS[i], ARGV[2]) end
return {1}
"""

# KEYS seat keys; ARGV token. Frees what is ours; -> indexes that are free now
# (ours, or already gone), i.e. the seats whose release should be announced.
RELEASE_LUA = """
local freed = {}
for i = 1, #KEYS do
  local v = redis.call('GET', KEYS[i])
  if v == ARGV[1] then redis.call('DEL', KEYS[i]) end
  if v == ARGV[1] or not v then freed[#freed + 1] = i end
end
return freed
"""

# KEYS[1] marker, KEYS[2..] seat keys; ARGV token. -> indexes of seats that are not ours.
VERIFY_LUA = LOADED_CHECK + """
local lost = {}
for i = 2, #KEYS do
  if redis.call('GET', KEYS[i]) ~= ARGV[1] then lost[#lost + 1] = i - 1 end
end
return lost
"""

# KEYS[1] marker, KEYS[2..] seat keys; ARGV per seat: value, ttl ms (0: none).
# Puts the database's view back into an empty (restarted) Redis, once: a
# second caller finds the marker and changes nothing. Holds go in with NX;
# sold seats overwrite, the database being the arbiter of sales. -> 1 or 0.
RESTORE_LUA = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
for i = 2, #KEYS do
  local value, ttl = ARGV[2 * i - 3], tonumber(ARGV[2 * i - 2])
  if ttl > 0 then
    redis.call('SET', KEYS[i], value, 'PX', ttl, 'NX')
  else
    redis.call('SET', KEYS[i], value)
  end
end
redis.call('SET', KEYS[1], '1')
return 1
"""

# KEYS seat keys; ARGV token. After the sale committed: mark sold (no TTL).
SELL_LUA = """
for i = 1, #KEYS do
  local v = redis.call('GET', KEYS[i])
  if v == ARGV[1] or not v then redis.call('SET', KEYS[i], 'sold') end
end
return #KEYS
"""

# KEYS seat keys; ARGV token of the hold that bought them. After a refund
# committed: the seats are free again (also when the sale's SELL never ran).
UNSELL_LUA = """
for i = 1, #KEYS do
  local v = redis.call('GET', KEYS[i])
  if v == 'sold' or v == ARGV[1] then redis.call('DEL', KEYS[i]) end
end
return #KEYS
"""


_scripts: dict[tuple[int, str], object] = {}


def _script(client, source: str):
    """The registered script (EVALSHA, falling back to EVAL once per server)."""
    cached = _scripts.get((id(client), source))
    if cached is None:
        cached = _scripts[(id(client), source)] = client.register_script(source)
    return cached


@dataclass(frozen=True)
class Claim:
    fence: int


def _ttl_ms(expires_at: datetime) -> int:
    return max(1, int((expires_at - timezone.now()).total_seconds() * 1000))


@runtime_checkable
class SeatLockBackend(Protocol):
    """What the hold and order services need from a seat-lock store.

    A seat is *held* by a hold while the hold's lock on it is live (not past
    its expiry, not released, not sold). Seats are the event's seat ids; a hold
    is identified by its token (SeatHold.token).
    """

    name: str

    def claim(
        self, *, event_id: int, seat_ids: list[int], token: str, expires_at: datetime
    ) -> Claim:
        """Lock every seat until `expires_at`, or none: raises SeatsUnavailable listing
        the seats held by another live hold. Expired locks are taken over."""

    def attach(self, hold: SeatHold) -> None:
        """Bind the claim to the SeatHold row just created for it (same transaction);
        sets ``hold.fence`` when the claim's fence was 0. Fences increase per event.
        May still raise SeatsUnavailable (a concurrent claim committed first)."""

    def undo_claim(self, *, event_id: int, seat_ids: list[int], token: str) -> None:
        """Compensate a claim whose transaction did not commit (called after the rollback)."""

    def extend(self, hold: SeatHold, *, expires_at: datetime) -> list[int]:
        """Move every seat's expiry; -> seats the hold no longer holds (then nothing moved)."""

    def release_hold(self, hold: SeatHold) -> list[int]:
        """Free the hold's seats; -> the seats free now (the hold's, or nobody's): the
        ones to announce. A seat another hold took over is left alone."""

    def lost_seats(self, hold: SeatHold) -> list[int]:
        """The hold's seats it does not hold live any more."""

    def mark_sold(self, hold: SeatHold) -> None:
        """The hold's seats were sold in this transaction: they stop being held."""

    def mark_free(self, *, event_id: int, seat_ids: list[int], token: str) -> None:
        """Sold seats were refunded in this transaction: they may be claimed again."""

    def held_seat_ids(self, event_id: int, seat_ids: list[int]) -> set[int]:
        """Those of `seat_ids` that a live hold holds now."""


class RedisSeatLocks:
    name = "redis"

    def __init__(self) -> None:
        self.client = get_redis()
        if self.client is None:
            raise SeatLocksUnavailable("Redis seat holds are configured but REDIS_URL is not set.")

    @staticmethod
    def seat_key(event_id: int, seat_id: int) -> str:
        # The braces keep an event's keys in one Redis Cluster slot (one script touches them).
        return key("tk", f"{{ev{event_id}}}", "seat", seat_id)

    @staticmethod
    def fence_key(event_id: int) -> str:
        return key("tk", f"{{ev{event_id}}}", "fence")

    @staticmethod
    def loaded_key(event_id: int) -> str:
        """Present while Redis holds the event's seat map; gone after a restart."""
        return key("tk", f"{{ev{event_id}}}", "loaded")

    def _keys(self, event_id: int, seat_ids: list[int]) -> list[str]:
        return [self.seat_key(event_id, s) for s in seat_ids]

    def _run(self, script: str, keys: list[str], args: list) -> object:
        try:
            return _script(self.client, script)(keys=keys, args=args)
        except Exception as exc:
            if is_redis_unavailable(exc):
                raise SeatLocksUnavailable() from exc
            raise

    def _run_loaded(self, event_id: int, script: str, keys: list[str], args: list) -> object:
        """Run a script that starts with the loaded check; restore the seat map if needed."""
        keys = [self.loaded_key(event_id), *keys]
        result = self._run(script, keys, args)
        if result == "unloaded":
            self.restore_seat_map(event_id)
            result = self._run(script, keys, args)
            if result == "unloaded":  # lost again between the two calls
                raise SeatLocksUnavailable("Seat holds are being restored; try again shortly.")
        return result

    def restore_seat_map(self, event_id: int) -> bool:
        """Put the event's live holds and sold seats from the database into Redis.

        Runs by itself when a script finds the event's marker missing (Redis
        restarted empty, or it never held this event). Until it ran, no hold
        script changes anything, so no seat can be handed out that the database
        still shows held or sold. Returns False when another process got there first.
        """
        now = timezone.now()
        values: dict[int, tuple[str, int]] = {}
        live = SeatHold.objects.filter(
            event_id=event_id, status=SeatHold.Status.ACTIVE, expires_at__gt=now
        ).values_list("token", "seat_ids", "expires_at")
        for token, seat_ids, expires_at in live:
            for seat_id in seat_ids:
                values[seat_id] = (token, _ttl_ms(expires_at))
        sold = Ticket.objects.filter(event_id=event_id, status=Ticket.Status.VALID)
        for seat_id in sold.values_list("seat_id", flat=True):
            values[seat_id] = (SOLD, 0)
        args: list = []
        for token, ttl in values.values():
            args += [token, ttl]
        done = self._run(
            RESTORE_LUA, [self.loaded_key(event_id), *self._keys(event_id, list(values))], args
        )
        if done:
            logger.warning(
                "seat map of event %s restored into Redis: %s seats held or sold",
                event_id, len(values),
            )
            SEAT_MAP_RESTORES.inc()
        return bool(done)

    def claim(
        self, *, event_id: int, seat_ids: list[int], token: str, expires_at: datetime
    ) -> Claim:
        ok, payload = self._run_loaded(
            event_id,
            HOLD_LUA,
            [self.fence_key(event_id), *self._keys(event_id, seat_ids)],
            [token, _ttl_ms(expires_at)],
        )
        if not ok:
            raise SeatsUnavailable([seat_ids[i - 1] for i in payload])
        return Claim(fence=int(payload))

    def attach(self, hold: SeatHold) -> None:
        """Nothing to store in the database: the Lua script already owns the seats."""

    def undo_claim(self, *, event_id: int, seat_ids: list[int], token: str) -> None:
        self._release(event_id=event_id, seat_ids=seat_ids, token=token)

    def extend(self, hold: SeatHold, *, expires_at: datetime) -> list[int]:
        """Move the TTL of every seat; -> seats no longer owned (then nothing moved)."""
        result = self._run_loaded(
            hold.event_id, EXTEND_LUA, self._keys(hold.event_id, hold.seat_ids),
            [hold.token, _ttl_ms(expires_at)],
        )
        return [] if result[0] else [hold.seat_ids[i - 1] for i in result[1]]

    def _release(self, *, event_id: int, seat_ids: list[int], token: str) -> list[int]:
        freed = self._run(RELEASE_LUA, self._keys(event_id, seat_ids), [token])
        return [seat_ids[i - 1] for i in freed]

    def release_hold(self, hold: SeatHold) -> list[int]:
        return self._release(event_id=hold.event_id, seat_ids=hold.seat_ids, token=hold.token)

    def lost_seats(self, hold: SeatHold) -> list[int]:
        lost = self._run_loaded(
            hold.event_id, VERIFY_LUA, self._keys(hold.event_id, hold.seat_ids), [hold.token]
        )
        return [hold.seat_ids[i - 1] for i in lost]

    def mark_sold(self, hold: SeatHold) -> None:
        keys, token = self._keys(hold.event_id, hold.seat_ids), hold.token
        # After commit only: a rolled-back sale must leave the hold as it was.
        # robust: the sale is committed; a Redis blip here must not turn it into a 500
        # (the database still refuses a second sale; the key's TTL frees it).
        transaction.on_commit(lambda: self._run(SELL_LUA, keys, [token]), robust=True)

    def mark_free(self, *, event_id: int, seat_ids: list[int], token: str) -> None:
        keys = self._keys(event_id, seat_ids)
        transaction.on_commit(lambda: self._run(UNSELL_LUA, keys, [token]), robust=True)

    def held_seat_ids(self, event_id: int, seat_ids: list[int]) -> set[int]:
        if not seat_ids:
            return set()
        try:
            loaded, values = self._read_seats(event_id, seat_ids)
            if not loaded:
                self.restore_seat_map(event_id)
                loaded, values = self._read_seats(event_id, seat_ids)
        except Exception as exc:
            if is_redis_unavailable(exc):
                raise SeatLocksUnavailable() from exc
            raise
        return {s for s, v in zip(seat_ids, values, strict=True) if v is not None and v != SOLD}

    def _read_seats(self, event_id: int, seat_ids: list[int]) -> tuple[bool, list]:
        pipe = self.client.pipeline(transaction=True)
        pipe.exists(self.loaded_key(event_id))
        # MGET as a plain command: redis-py's cluster pipeline refuses its mget() even when
        # every key is in one slot (they are: one hash tag per event).
        pipe.execute_command("MGET", *self._keys(event_id, seat_ids))
        loaded, values = pipe.execute()
        return bool(loaded), values


class DatabaseSeatLocks:
    name = "db"

    def claim(
        self, *, event_id: int, seat_ids: list[int], token: str, expires_at: datetime
    ) -> Claim:
        # Seats of expired holds are taken over; the sweeper announces only what
        # its hold still owns, so the stream never frees a seat someone else holds.
        HeldSeat.objects.filter(
            event_id=event_id, seat_id__in=seat_ids, expires_at__lte=timezone.now()
        ).delete()
        taken = self._live(event_id, seat_ids)
        if taken:
            raise SeatsUnavailable(sorted(taken))
        return Claim(fence=0)  # the hold's primary key becomes its fence in attach()

    def attach(self, hold: SeatHold) -> None:
        hold.fence = hold.pk
        hold.save(update_fields=["fence"])
        rows = [
            HeldSeat(hold=hold, event_id=hold.event_id, seat_id=s, expires_at=hold.expires_at)
            for s in hold.seat_ids
        ]
        try:
            with transaction.atomic():
                HeldSeat.objects.bulk_create(rows)
        except IntegrityError:
            # A concurrent hold committed first (PostgreSQL waits for it, then refuses).
            raise SeatsUnavailable(sorted(self._live(hold.event_id, hold.seat_ids))) from None

    def undo_claim(self, *, event_id: int, seat_ids: list[int], token: str) -> None:
        """The transaction's rollback removes the rows."""

    @staticmethod
    def _live(event_id: int, seat_ids: list[int]) -> set[int]:
        return set(
            HeldSeat.objects.filter(
                event_id=event_id, seat_id__in=seat_ids, expires_at__gt=timezone.now()
            ).values_list("seat_id", flat=True)
        )

    @staticmethod
    def _owned_live(hold: SeatHold) -> set[int]:
        # An expired row not yet taken over is not held any more, as a Redis key
        # past its TTL: both backends call such a seat lost.
        return set(
            hold.held_seats.filter(expires_at__gt=timezone.now()).values_list("seat_id", flat=True)
        )

    def extend(self, hold: SeatHold, *, expires_at: datetime) -> list[int]:
        owned = self._owned_live(hold)
        lost = [s for s in hold.seat_ids if s not in owned]
        if not lost:
            hold.held_seats.update(expires_at=expires_at)
        return lost

    def release_hold(self, hold: SeatHold) -> list[int]:
        owned = set(hold.held_seats.values_list("seat_id", flat=True))
        hold.held_seats.all().delete()
        return [s for s in hold.seat_ids if s in owned]

    def lost_seats(self, hold: SeatHold) -> list[int]:
        owned = self._owned_live(hold)
        return [s for s in hold.seat_ids if s not in owned]

    def mark_sold(self, hold: SeatHold) -> None:
        """Tickets are the sold state; the hold's rows go."""
        hold.held_seats.all().delete()

    def mark_free(self, *, event_id: int, seat_ids: list[int], token: str) -> None:
        """Cancelled tickets are the free state."""

    def held_seat_ids(self, event_id: int, seat_ids: list[int]) -> set[int]:
        if not seat_ids:
            return set()
        return self._live(event_id, seat_ids)


def seat_lock_backend() -> SeatLockBackend:
    """The configured backend (TICKETING_HOLD_BACKEND: "redis" or "db")."""
    return RedisSeatLocks() if settings.TICKETING_HOLD_BACKEND == "redis" else DatabaseSeatLocks()


# PostgreSQL's SQLSTATE for "canceling statement due to lock timeout".
LOCK_NOT_AVAILABLE = "55P03"


def _lock_timeout_first(timeout_ms: int):
    """An execute wrapper that sends SET LOCAL lock_timeout before the block's first
    statement, not when the block opens: a buyer whom Redis refuses before any query
    still costs PostgreSQL nothing (no BEGIN is sent until a statement runs)."""
    pending = True

    def wrapper(execute, sql, params, many, context):
        nonlocal pending
        if pending:
            pending = False
            # On the driver's cursor: `execute` may be the executemany chain. SET takes
            # no bind parameters; the value is an int.
            context["cursor"].cursor.execute(f"SET LOCAL lock_timeout = {timeout_ms}")
        return execute(sql, params, many, context)

    return wrapper


@contextmanager
def seat_lock_transaction() -> Iterator[None]:
    """The transaction of a hold claim or a purchase.

    Durable: it must be the outermost transaction. A claim undoes its Redis
    claim when its block fails; inside a caller's transaction the block could
    succeed and the caller's roll back afterwards, leaving Redis seats held for
    a hold that never existed. A purchase marks seats sold and publishes after
    its commit, so its block must be the commit. (Django's TestCase, and
    pytest-django's `db` fixture with it, mark their own blocks, so tests still
    call the services inside their transaction.)

    On PostgreSQL each lock wait inside it (the hold and wallet rows, a seat's
    HeldSeat, SeatFence or ticket index entry) is capped at
    TICKETING_SEAT_LOCK_TIMEOUT_MS, as pretix's lock_objects does: a lock stuck
    behind another transaction answers SeatLocksBusy (503 "busy") instead of
    holding the request, its worker thread and its connection.
    """
    try:
        with transaction.atomic(durable=True), ExitStack() as stack:
            if connection.vendor == "postgresql":
                timeout_ms = int(settings.TICKETING_SEAT_LOCK_TIMEOUT_MS)
                stack.enter_context(connection.execute_wrapper(_lock_timeout_first(timeout_ms)))
            yield
    except OperationalError as exc:
        if getattr(exc.__cause__, "sqlstate", None) == LOCK_NOT_AVAILABLE:
            raise SeatLocksBusy() from exc
        raise
