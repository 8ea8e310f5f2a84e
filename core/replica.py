"""Reads that may go to the PostgreSQL streaming replica (DATABASE_REPLICA_URL), and its router.

Only the read-only selectors that ask go to the replica (docs/scaling.md lists them):
they run inside ``replica_reads()`` or query ``.using(read_alias())``. Everything else
— writes, row locks, reads inside a transaction, the stream snapshots — uses the
primary (``default``), and so does everything when no replica is configured.

A replica read is never older than the primary when the read began. Choosing the
replica costs two short queries: the primary's WAL position (``pg_current_wal_lsn()``),
then the replica's replay position, polled until it has replayed past it, for at most
``REPLICA_MAX_WAIT_SECONDS``. So a client that wrote on the primary and reads at once
through the API sees its write, from the replica when it has caught up, from the
primary otherwise. A replica that is down, not in recovery, or still behind after the
wait sends the read to the primary, and is left alone for ``REPLICA_RETRY_SECONDS``
(no wait per request while it lags).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from contextvars import ContextVar

from django.conf import settings
from django.db import DatabaseError, connections

from core import metrics

PRIMARY = "default"
REPLICA = "replica"

log = logging.getLogger(__name__)

_reading: ContextVar[str | None] = ContextVar("tombola_replica_reading", default=None)
_lock = threading.Lock()
_skip_until = 0.0  # monotonic time before which the replica is not tried (per process)


def configured() -> bool:
    return REPLICA in settings.DATABASES


def _skip(reason: str) -> None:
    global _skip_until
    with _lock:
        _skip_until = time.monotonic() + settings.REPLICA_RETRY_SECONDS
    metrics.REPLICA_FALLBACKS.labels(reason=reason).inc()
    log.warning("replica reads go to the primary for %ss: %s",
                settings.REPLICA_RETRY_SECONDS, reason)


def _replica_caught_up() -> str | None:
    """None when the replica has replayed what the primary has committed; else why not."""
    with connections[PRIMARY].cursor() as cursor:
        cursor.execute("SELECT pg_current_wal_lsn()")
        (target,) = cursor.fetchone()
    deadline = time.monotonic() + settings.REPLICA_MAX_WAIT_SECONDS
    with connections[REPLICA].cursor() as cursor:
        while True:
            # NULL when the server is not in recovery: not a replica (promoted, or misnamed).
            cursor.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [target])
            (caught_up,) = cursor.fetchone()
            if caught_up:
                return None
            if caught_up is None:
                return "not_in_recovery"
            if time.monotonic() >= deadline:
                return "lagging"
            time.sleep(0.005)


def read_alias() -> str:
    """The alias for a read-only selector's queries now: ``replica`` when it is fresh enough.

    Always the primary without a replica, inside a transaction on the primary (its reads
    must see its own writes), and while the replica is being left alone.
    """
    if not configured() or connections[PRIMARY].in_atomic_block:
        return PRIMARY
    if time.monotonic() < _skip_until:
        return PRIMARY
    try:
        reason = _replica_caught_up()
    except DatabaseError as error:
        # Down or unreachable: drop the broken connection, so the next try reconnects.
        connections[REPLICA].close_if_unusable_or_obsolete()
        reason = "unavailable"
        log.warning("replica unavailable: %s", error)
    if reason is None:
        metrics.REPLICA_READS.labels(database=REPLICA).inc()
        return REPLICA
    _skip(reason)
    metrics.REPLICA_READS.labels(database=PRIMARY).inc()
    return PRIMARY


@contextlib.contextmanager
def replica_reads() -> Iterator[str]:
    """Route this block's reads (the router's db_for_read) to ``read_alias()``; yields it."""
    alias = read_alias()
    token = _reading.set(alias)
    try:
        yield alias
    finally:
        _reading.reset(token)


def reset() -> None:
    """Forget a past fallback (tests)."""
    global _skip_until
    with _lock:
        _skip_until = 0.0


class PrimaryReplicaRouter:
    """DATABASE_ROUTERS with a replica: the replica only inside ``replica_reads()``."""

    def db_for_read(self, model, **hints):
        if _reading.get() == REPLICA and not connections[PRIMARY].in_atomic_block:
            return REPLICA
        return PRIMARY

    def db_for_write(self, model, **hints):
        return PRIMARY

    def allow_relation(self, obj1, obj2, **hints):
        return True  # one database, two copies of it

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return db == PRIMARY  # the replica gets the schema by replaying the primary
