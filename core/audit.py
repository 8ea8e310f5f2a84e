"""Append-only, hash-chained audit log.

``record(...)`` writes an entry inside the caller's transaction, so the entry
exists exactly when the change it describes does. ``seal()`` (a periodic job,
and the first step of ``verify_audit``) chains unsealed entries in id order:
each gets the next ``chain_seq`` and ``hash = sha256(canonical(entry, prev_hash))``.
Only sealing is serialised (an advisory lock on PostgreSQL; SQLite serialises
writers anyway), so audited writes such as purchases never wait on each other
for the log. ``verify()`` walks the chain and reports every entry that was
modified, deleted or reordered.

Truncating the newest entries leaves a shorter chain that is still valid; to
catch that, publish the head (``head()``) somewhere else and pass it to
``verify(expected_head=...)``.

One actor type everywhere: ``actor: User | None`` (None for the scheduler, an
import without a user, a command), plus a ``source`` label ("api", "admin",
"import", "scheduler:<host>:<pid>", ...) where a service stores who did it as text;
``actor_label(actor, source)`` makes that text.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction

from core.jsonutil import to_jsonable
from core.models import AuditEntry, User

GENESIS_HASH = "0" * 64
# Arbitrary constant naming the audit sealer's PostgreSQL advisory lock.
_SEAL_LOCK_ID = 0x7A0B01A


def actor_label(actor: User | None, source: str) -> str:
    """Who did it, as text for a stored field: "user:<id>" (the API, an import),
    "admin:<id>" (the Django admin), or the source itself when no user acted
    ("scheduler:<host>:<pid>", "import")."""
    if actor is None:
        return source
    return f"{'admin' if source == 'admin' else 'user'}:{actor.pk}"


def record(
    *, action: str, obj: Any = None, object_type: str = "", object_id: Any = "",
    actor: User | None = None, data: dict | None = None,
) -> AuditEntry:
    """Write one audit entry in the current transaction (sealed later)."""
    if actor is not None and not isinstance(actor, User):
        raise TypeError(f"audit actor must be a User or None, not {type(actor).__name__}")
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or obj.pk
    return AuditEntry.objects.create(
        action=action,
        actor_id=actor.pk if actor is not None else None,
        object_type=object_type,
        object_id=str(object_id),
        data=to_jsonable(data or {}),
    )


def entry_hash(entry: AuditEntry, prev_hash: str) -> str:
    canonical = json.dumps(
        {
            "seq": entry.chain_seq,
            "prev": prev_hash,
            "at": entry.created_at.astimezone(UTC).isoformat(),
            "action": entry.action,
            "actor": entry.actor_id,
            "object": [entry.object_type, entry.object_id],
            "data": entry.data,
        },
        sort_keys=True,
        separators=(",", ":"),
        cls=DjangoJSONEncoder,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def seal(*, batch_size: int = 1000) -> int:
    """Chain every unsealed entry (oldest id first). Returns how many were sealed."""
    sealed = 0
    while True:
        with transaction.atomic():
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_SEAL_LOCK_ID])
            pending = list(
                AuditEntry.objects.filter(chain_seq__isnull=True).order_by("id")[:batch_size]
            )
            if not pending:
                return sealed
            last = (
                AuditEntry.objects.filter(chain_seq__isnull=False).order_by("-chain_seq").first()
            )
            seq, prev = (last.chain_seq, last.hash) if last else (0, GENESIS_HASH)
            for entry in pending:
                seq += 1
                entry.chain_seq, entry.prev_hash = seq, prev
                entry.hash = prev = entry_hash(entry, entry.prev_hash)
            AuditEntry.objects.bulk_update(pending, ["chain_seq", "prev_hash", "hash"])
            sealed += len(pending)


@dataclass(frozen=True)
class Head:
    chain_seq: int
    hash: str

    def __str__(self) -> str:
        return f"{self.chain_seq}:{self.hash}"

    @classmethod
    def parse(cls, text: str) -> Head:
        seq, _, digest = text.partition(":")
        return cls(int(seq), digest)


def head() -> Head:
    last = AuditEntry.objects.filter(chain_seq__isnull=False).order_by("-chain_seq").first()
    return Head(last.chain_seq, last.hash) if last else Head(0, GENESIS_HASH)


@dataclass
class Verification:
    checked: int
    problems: list[str]
    head: Head

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(*, expected_head: Head | None = None) -> Verification:
    """Walk the sealed chain; report modified, deleted or reordered entries."""
    problems: list[str] = []
    expected_seq, prev = 1, GENESIS_HASH
    checked = 0
    entries = AuditEntry.objects.filter(chain_seq__isnull=False).order_by("chain_seq")
    for entry in entries.iterator(chunk_size=2000):
        checked += 1
        if entry.chain_seq != expected_seq:
            problems.append(
                f"entries {expected_seq}..{entry.chain_seq - 1} are missing (deleted)"
                if entry.chain_seq > expected_seq
                else f"entry {entry.chain_seq} is out of order"
            )
        if entry.prev_hash != prev:
            problems.append(
                f"entry {entry.chain_seq} (id {entry.id}) does not follow the entry before it "
                "(reordered, or a neighbour was changed or deleted)"
            )
        if entry_hash(entry, entry.prev_hash) != entry.hash:
            problems.append(f"entry {entry.chain_seq} (id {entry.id}) was modified")
        expected_seq, prev = entry.chain_seq + 1, entry.hash
    current = Head(expected_seq - 1, prev)
    if expected_head is not None:
        if current.chain_seq < expected_head.chain_seq:
            problems.append(
                f"the chain ends at {current.chain_seq} but the published head is "
                f"{expected_head.chain_seq}: newest entries were deleted"
            )
        else:
            at_head = entries.filter(chain_seq=expected_head.chain_seq).first()
            if at_head is None or at_head.hash != expected_head.hash:
                problems.append(f"entry {expected_head.chain_seq} differs from the published head")
    return Verification(checked=checked, problems=problems, head=current)
