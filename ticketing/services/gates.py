"""Gates: scanning signed tickets in, offline gates' uploads, and the conflicts between them.

Every scan outcome is an answer, not an error (the gate shows it): `valid` (the ticket is
redeemed now), `already_used` (when, at which gate), `refunded`, `wrong_event`,
`wrong_gate` (a section this gate does not admit; which gates do), `invalid` (not a code,
or a signature that does not check). Redeeming is exactly once per ticket: the ticket's
row is locked (FOR UPDATE) for the check and the insert, and the unique ticket of
TicketRedemption is the last guard (SQLite, or a lock that did not happen).

Locks, always in this order: the ticket's row, then gate rows by id. One scan, one
transaction: an upload of many offline scans runs one per scan, so two uploads never
hold several tickets each in crossed orders.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from core import audit
from core.models import Event, User
from ticketing import ticket_code_format as fmt
from ticketing.errors import GateNameTaken, GateNotFound, ScanConflictNotFound, UnknownSections
from ticketing.models import (
    Gate,
    OfflineScan,
    ScanConflict,
    Section,
    Ticket,
    TicketRedemption,
    TicketSigningKey,
)
from ticketing.services.ticket_codes import event_key_row
from ticketing.streams import publish_gate_progress

VALID, ALREADY_USED, REFUNDED = "valid", "already_used", "refunded"
WRONG_EVENT, WRONG_GATE, INVALID, CONFLICT = "wrong_event", "wrong_gate", "invalid", "conflict"
SCAN_RESULTS = (VALID, ALREADY_USED, REFUNDED, WRONG_EVENT, WRONG_GATE, INVALID)


@dataclass
class ScanOutcome:
    result: str
    ticket: Ticket | None = None
    # already_used / conflict: the entry that counts (when, which gate).
    redemption: TicketRedemption | None = None
    # wrong_gate: the names of the gates that admit the ticket's section.
    admitting_gates: list[str] = field(default_factory=list)


def gate_of(*, event: Event, name: str) -> Gate:
    """The event's gate called `name` with its admitted section ids (GateNotFound)."""
    gate = Gate.objects.filter(event=event, name=name).first()
    if gate is None:
        raise GateNotFound()
    gate.section_ids = set(gate.sections.values_list("id", flat=True))
    return gate


def admits(gate: Gate, section_id: int) -> bool:
    return not gate.section_ids or section_id in gate.section_ids


def gate_create(*, event: Event, name: str, section_ids: list[int],
                actor: User | None) -> Gate:
    """A new gate admitting `section_ids` (none: all) of the event's venue; audited.
    Raises GateNameTaken (409), UnknownSections (400)."""
    sections = list(Section.objects.filter(pk__in=section_ids, venue_id=event.venue_id))
    if len(sections) != len(set(section_ids)):
        raise UnknownSections()
    try:
        with transaction.atomic():
            gate = Gate.objects.create(event=event, name=name)
            gate.sections.set(sections)
            audit.record(action="gate.created", obj=gate, actor=actor, data={
                "event_id": event.pk, "name": name, "section_ids": sorted(section_ids)})
    except IntegrityError:
        raise GateNameTaken() from None
    return gate


def code_claims(*, event: Event, code: str) -> fmt.TicketClaims | str:
    """The code's claims if signed by `event`'s key; else WRONG_EVENT (signed by another
    event's key) or INVALID. One read of a key row only for another event's code."""
    try:
        claims, payload, signature = fmt.decode(code)
    except fmt.MalformedCode:
        return INVALID
    if claims.event_id == event.pk:
        row = event_key_row(event)
    else:
        row = TicketSigningKey.objects.filter(event_id=claims.event_id).first()
        if row is None:
            return INVALID
    try:
        fmt.public_key_from_bytes(bytes(row.public_key)).verify(signature, fmt.DOMAIN + payload)
    except fmt.InvalidSignature:
        return INVALID
    return claims if claims.event_id == event.pk else WRONG_EVENT


def ticket_scan(*, event: Event, gate: Gate, code: str, actor: User | None) -> ScanOutcome:
    """Scan `code` at `gate` now (online): redeem the ticket if it may come in.

    Locks the ticket's row, then the gate's (its counter). Publishes gate.progress on
    `gates:<event_id>` after the commit of a redemption. `gate` comes from gate_of.
    """
    claims = code_claims(event=event, code=code)
    if isinstance(claims, str):
        return ScanOutcome(claims)
    with transaction.atomic():
        ticket, refusal = _locked_ticket(claims, gate)
        if refusal is not None:
            return refusal
        scanned_at = timezone.now()
        if not _redeem(ticket=ticket, gate=gate, scanned_at=scanned_at, actor=actor):
            return ScanOutcome(ALREADY_USED, ticket, _redemption_of(ticket))
        _count(event.pk, [(gate.pk, +1)])
    redemption = TicketRedemption(ticket=ticket, event_id=event.pk, gate=gate,
                                  scanned_at=scanned_at, scanned_by=actor)
    return ScanOutcome(VALID, ticket, redemption)


def _redeem(*, ticket: Ticket, gate: Gate, scanned_at, actor: User | None) -> bool:
    """Insert the ticket's redemption unless it has one; -> inserted. One statement: the
    unique ticket decides (no read before, no savepoint), the same on both databases."""
    table = TicketRedemption._meta.db_table
    moment = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (ticket_id, event_id, gate_id, scanned_at, "  # noqa: S608
            f"scanned_by_id, source, recorded_at) VALUES (%s, %s, %s, %s, %s, %s, %s) "
            f"ON CONFLICT (ticket_id) DO NOTHING RETURNING id",
            [ticket.pk, ticket.event_id, gate.pk, moment(scanned_at),
             actor.pk if actor else None, TicketRedemption.Source.ONLINE,
             moment(timezone.now())])
        return cursor.fetchone() is not None


def _locked_ticket(claims: fmt.TicketClaims,
                   gate: Gate) -> tuple[Ticket | None, ScanOutcome | None]:
    """The claimed ticket, locked, or the outcome that refuses it."""
    ticket = (Ticket.objects.select_for_update(of=("self",))
              .select_related("seat__row__section")
              .filter(pk=claims.ticket_id, event_id=gate.event_id).first())
    # A signed code whose ticket is gone or moved seats: never a valid one.
    if ticket is None or ticket.seat_id != claims.seat_id:
        return None, ScanOutcome(INVALID)
    if ticket.status != Ticket.Status.VALID:
        return ticket, ScanOutcome(REFUNDED, ticket)
    if not admits(gate, claims.section_id):
        gates = Gate.objects.filter(event_id=gate.event_id).prefetch_related("sections")
        names = [g.name for g in gates
                 if not g.sections.all() or claims.section_id in {s.pk for s in g.sections.all()}]
        return ticket, ScanOutcome(WRONG_GATE, ticket, admitting_gates=names)
    return ticket, None


def _redemption_of(ticket: Ticket) -> TicketRedemption | None:
    return TicketRedemption.objects.select_related("gate").filter(ticket=ticket).first()


def _count(event_id: int, changes: list[tuple[int, int]]) -> None:
    """Move gates' counters ((gate id, delta), locked in id order) and publish their new
    values (exact: read under the row lock) on the gates stream after the commit."""
    table = Gate._meta.db_table
    figures = []
    with connection.cursor() as cursor:
        for gate_id, delta in sorted(changes):
            # Same SQL on PostgreSQL and SQLite (>= 3.35).
            cursor.execute(f"UPDATE {table} SET scanned = scanned + %s "  # noqa: S608
                           f"WHERE id = %s RETURNING scanned", [delta, gate_id])
            figures.append({"id": gate_id, "scanned": cursor.fetchone()[0]})
    publish_gate_progress(event_id, figures)


# --- Offline gates ------------------------------------------------------------------


@dataclass
class QueuedScan:
    scan_id: str
    code: str
    scanned_at: datetime


def offline_scan_record(*, event: Event, gate: Gate, scan: QueuedScan,
                        actor: User | None) -> OfflineScan:
    """Record one scan an offline gate made (and already acted on) at `scan.scanned_at`.

    Idempotent per (gate, scan_id): a re-upload returns the first upload's row. The first
    scan of a ticket wins: an earlier offline scan takes the ticket's redemption over from
    a later one (online or offline) at another gate, and the later one is reported as a
    ScanConflict; a later one is reported itself (result `conflict`). A second scan at the
    same gate is `already_used`, no conflict (the gate saw it). The gate's clock is bounded:
    not after now, not before the ticket's sale or the gate's creation. A ticket refunded
    after the offline gate let it in is `refunded` and audited for staff.
    """
    stored = OfflineScan.objects.filter(gate=gate, scan_id=scan.scan_id).first()
    if stored is not None:
        return stored
    # A gate's clock ahead of ours cannot make its scan later than its upload.
    scan = QueuedScan(scan.scan_id, scan.code, min(scan.scanned_at, timezone.now()))
    claims = code_claims(event=event, code=scan.code)
    try:
        with transaction.atomic():
            if isinstance(claims, str):
                return _offline_row(gate, scan, claims, None, actor)
            ticket, refusal = _locked_ticket(claims, gate)
            if ticket is not None:
                scan = _plausible(scan, gate, ticket)
            if refusal is not None:
                if refusal.result == REFUNDED and ticket.cancelled_at is not None \
                        and ticket.cancelled_at > scan.scanned_at:
                    _refunded_after_entry(event, gate, ticket, scan, actor)
                return _offline_row(gate, scan, refusal.result, ticket, actor)
            result = _offline_redeem(event, gate, ticket, scan, actor)
            return _offline_row(gate, scan, result, ticket, actor)
    except IntegrityError:
        # The same scan in two uploads at once: the first one's row answers.
        return OfflineScan.objects.get(gate=gate, scan_id=scan.scan_id)


def _plausible(scan: QueuedScan, gate: Gate, ticket: Ticket) -> QueuedScan:
    """A gate's clock behind ours cannot date its scan before the ticket or the gate
    existed: without this floor a gate whose clock says last year (or a gate account
    lying) recorded impossible entry times and won first-scan-wins by any margin. Between
    the floor and now the server cannot tell a slow clock from a true one."""
    floor = max(ticket.created_at, gate.created_at)
    if scan.scanned_at >= floor:
        return scan
    return QueuedScan(scan.scan_id, scan.code, floor)


def _refunded_after_entry(event: Event, gate: Gate, ticket: Ticket, scan: QueuedScan,
                          actor: User | None) -> None:
    """An offline gate let the ticket in while it was valid; it was refunded before the
    upload (the phone had a network, the gate had not). The money went back and the seat
    may be sold again to someone else: staff must know (audited, the OfflineScan row says
    `refunded`)."""
    audit.record(action="gate.refunded_after_entry", obj=ticket, actor=actor, data={
        "event_id": event.pk, "gate_id": gate.pk, "scan_id": scan.scan_id,
        "scanned_at": scan.scanned_at.isoformat(),
        "cancelled_at": ticket.cancelled_at.isoformat()})


def _offline_row(gate, scan, result, ticket, actor) -> OfflineScan:
    return OfflineScan.objects.create(gate=gate, scan_id=scan.scan_id, code=scan.code[:200],
                                      ticket=ticket, scanned_at=scan.scanned_at, result=result,
                                      uploaded_by=actor)


def _offline_redeem(event: Event, gate: Gate, ticket: Ticket, scan: QueuedScan,
                    actor: User | None) -> str:
    existing = TicketRedemption.objects.select_for_update().filter(ticket=ticket).first()
    if existing is None:
        TicketRedemption.objects.create(
            ticket=ticket, event_id=event.pk, gate=gate, scanned_at=scan.scanned_at,
            scanned_by=actor, source=TicketRedemption.Source.OFFLINE)
        _count(event.pk, [(gate.pk, +1)])
        return VALID
    if existing.gate_id == gate.pk:
        return ALREADY_USED
    if scan.scanned_at < existing.scanned_at:
        # First scan wins: this one is the entry, the other becomes the conflict.
        _conflict(ScanConflict(
            event=event, ticket=ticket, kept_gate=gate, kept_scanned_at=scan.scanned_at,
            other_gate_id=existing.gate_id, other_scanned_at=existing.scanned_at), actor)
        _count(event.pk, [(existing.gate_id, -1), (gate.pk, +1)])
        existing.gate, existing.scanned_at = gate, scan.scanned_at
        existing.scanned_by, existing.source = actor, TicketRedemption.Source.OFFLINE
        existing.save(update_fields=["gate", "scanned_at", "scanned_by", "source"])
        return VALID
    _conflict(ScanConflict(
        event=event, ticket=ticket, kept_gate_id=existing.gate_id,
        kept_scanned_at=existing.scanned_at, other_gate=gate, other_scanned_at=scan.scanned_at),
        actor)
    return CONFLICT


def _conflict(conflict: ScanConflict, actor: User | None) -> None:
    """Store and audit a ticket let in at two gates (staff see both)."""
    conflict.save()
    audit.record(action="gate.scan_conflict", obj=conflict, actor=actor, data={
        "ticket_id": conflict.ticket_id, "kept_gate_id": conflict.kept_gate_id,
        "other_gate_id": conflict.other_gate_id})


def scan_conflict_resolve(*, event: Event, conflict_id: int, actor: User) -> ScanConflict:
    """Staff looked into a conflict: mark it resolved, audited (ScanConflictNotFound)."""
    with transaction.atomic():
        conflict = (ScanConflict.objects.select_for_update()
                    .filter(pk=conflict_id, event=event).first())
        if conflict is None:
            raise ScanConflictNotFound()
        if conflict.resolved_at is None:
            conflict.resolved_at, conflict.resolved_by = timezone.now(), actor
            conflict.save(update_fields=["resolved_at", "resolved_by"])
            audit.record(action="gate.scan_conflict_resolved", obj=conflict, actor=actor)
    return conflict
