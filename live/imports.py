"""Importing an external draw's winners from the operator's CSV file.

The file has a header row and two columns (more are ignored):

    participant,prize
    42,Bicycle                 # a user id and a prize name (exact)
    +79161231234,7             # a phone (any format normalize_phone reads) and a prize id

``winners_import`` checks every row before writing anything; the winners are
then stored and published by live's external perform (``draw_perform`` with
``external_winners``), so an import and an API perform are the same event for
the draw's stream, webhooks and audit log.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from core import audit
from core.errors import InvalidPhone
from core.models import User
from core.phones import normalize_phone
from live.errors import InvalidWinnersFile, NotExternal, WinnersAlreadyImported
from live.models import Draw, Prize, Winner
from live.services.performing import draw_perform

COLUMNS = ("participant", "prize")
# Rows between progress callbacks, and ids per lookup query.
CHUNK = 1000


@dataclass(frozen=True)
class RowError:
    row: int  # line number in the file; the header is line 1
    column: str
    message: str

    def as_dict(self) -> dict:
        return {"row": self.row, "column": self.column, "message": self.message}

    def __str__(self) -> str:
        return f"row {self.row}, {self.column}: {self.message}"


@dataclass(frozen=True)
class ImportResult:
    imported: bool  # False when the same winners were already there
    winners: int


def read_winners_csv(data: bytes | str) -> list[dict[str, str]]:
    """The rows of a winners file as dicts; a missing column is an error for row 1."""
    try:
        text = data.decode("utf-8-sig") if isinstance(data, bytes) else data.lstrip("\ufeff")
    except UnicodeDecodeError:
        raise InvalidWinnersFile(extra={"errors": [
            RowError(1, "", "the file is not UTF-8 text (save it as CSV UTF-8)").as_dict()]},
        ) from None
    reader = csv.DictReader(io.StringIO(text))
    header = [name.strip().lower() for name in reader.fieldnames or []]
    missing = [column for column in COLUMNS if column not in header]
    if missing:
        raise InvalidWinnersFile(extra={"errors": [
            RowError(1, column, "missing column").as_dict() for column in missing]})
    reader.fieldnames = header
    return [{key: (value or "").strip() for key, value in row.items() if key}
            for row in reader]


def _chunks(items: list, size: int = CHUNK) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _users_by(field: str, values: Iterable[Any]) -> dict[Any, int]:
    if field == "phone":
        return _users_by_phone(values)
    found: dict[Any, int] = {}
    for chunk in _chunks(sorted(set(values))):
        found.update(User.objects.filter(**{f"{field}__in": chunk}).values_list(field, "pk"))
    return found


def _users_by_phone(values: Iterable[str]) -> dict[str, int]:
    """Phone -> user: the account that verified it (one at most, a unique constraint),
    else the only account that typed it in. Several unverified holders: nobody, since
    anyone may type any number into a profile (docs/security.md, "Accounts")."""
    verified: dict[str, int] = {}
    unverified: dict[str, list[int]] = {}
    for chunk in _chunks(sorted(set(values))):
        rows = User.objects.filter(phone__in=chunk).values_list("phone", "pk", "phone_verified_at")
        for phone, pk, verified_at in rows:
            if verified_at is not None:
                verified[phone] = pk
            else:
                unverified.setdefault(phone, []).append(pk)
    for phone, pks in unverified.items():
        if phone not in verified and len(pks) == 1:
            verified[phone] = pks[0]
    return verified


def _resolve(draw: Draw, rows: list[dict[str, str]],
             progress: Callable[[int], None] | None) -> tuple[list[dict], list[RowError]]:
    errors: list[RowError] = []
    prizes = list(draw.prizes.all())
    by_id = {str(p.pk): p for p in prizes}
    by_name: dict[str, list[Prize]] = {}
    for prize in prizes:
        by_name.setdefault(prize.name, []).append(prize)

    parsed: list[tuple[int, tuple[str, Any] | None, Prize | None]] = []
    for line, row in enumerate(rows, start=2):
        raw_participant, raw_prize = row.get("participant", ""), row.get("prize", "")
        participant = None
        if not raw_participant:
            errors.append(RowError(line, "participant", "required"))
        elif raw_participant.isascii() and raw_participant.isdigit() and len(raw_participant) < 10:
            participant = ("pk", int(raw_participant))
        else:
            try:
                participant = ("phone", normalize_phone(raw_participant))
            except InvalidPhone:
                errors.append(RowError(line, "participant",
                                       "neither a user id nor a valid phone number"))
        prize = by_id.get(raw_prize)
        if prize is None:
            named = by_name.get(raw_prize, [])
            if not raw_prize:
                errors.append(RowError(line, "prize", "required"))
            elif len(named) > 1:
                errors.append(RowError(line, "prize", "several prizes have this name; use its id"))
            elif not named:
                errors.append(RowError(line, "prize", "no such prize in this draw"))
            else:
                prize = named[0]
        parsed.append((line, participant, prize))
        if progress and (line - 1) % CHUNK == 0:
            progress(line - 1)

    ids = _users_by("pk", [p[1] for _, p, _ in parsed if p and p[0] == "pk"])
    phones = _users_by("phone", [p[1] for _, p, _ in parsed if p and p[0] == "phone"])
    winners: list[dict] = []
    used: Counter[int] = Counter()
    seen: set[tuple[int, int]] = set()
    for line, participant, prize in parsed:
        user_id = None
        if participant is not None:
            user_id = (ids if participant[0] == "pk" else phones).get(participant[1])
            if user_id is None:
                errors.append(RowError(line, "participant", "no such user"))
        if user_id is None or prize is None:
            continue
        if (prize.pk, user_id) in seen:
            errors.append(RowError(line, "participant", "this winner is already listed for "
                                                        "this prize"))
            continue
        seen.add((prize.pk, user_id))
        used[prize.pk] += 1
        if used[prize.pk] > prize.quantity:
            errors.append(RowError(line, "prize", f"more winners than the prize's "
                                                  f"{prize.quantity} units"))
            continue
        winners.append({"prize_id": prize.pk, "user_id": user_id})
    if not rows:
        errors.append(RowError(2, "participant", "the file has no winners"))
    if progress:
        progress(len(rows))
    return winners, sorted(errors, key=lambda e: (e.row, COLUMNS.index(e.column)))


@transaction.atomic
def winners_import(*, draw: Draw, rows: list[dict[str, str]], actor: User | None,
                   progress: Callable[[int], None] | None = None) -> ImportResult:
    """Validate every row, then perform the external draw with those winners.

    Locks the draw row. Raises NotExternal (409); InvalidWinnersFile (400, with
    ``errors``: [{row, column, message}]) and writes nothing when any row is bad;
    WinnersAlreadyImported (409) when the draw already has other winners. The same
    winners again return ``imported=False`` and change nothing. Publishes what
    draw_perform publishes; writes the winners.imported audit entry.
    """
    locked = Draw.objects.select_for_update().get(pk=draw.pk)
    if locked.kind != Draw.Kind.EXTERNAL:
        raise NotExternal()
    winners, errors = _resolve(locked, rows, progress)
    if errors:
        raise InvalidWinnersFile(
            f"{len(errors)} error(s) in the file; nothing was imported.",
            extra={"errors": [e.as_dict() for e in errors]})
    wanted = Counter((w["prize_id"], w["user_id"]) for w in winners)
    if locked.is_performed:
        existing = Counter(Winner.objects.filter(draw=locked).values_list("prize_id", "user_id"))
        if existing != wanted:
            raise WinnersAlreadyImported()
        return ImportResult(imported=False, winners=len(winners))
    draw_perform(draw=locked, actor=actor, source="import", external_winners=winners)
    audit.record(action="winners.imported", obj=locked, actor=actor,
                 data={"winners": len(winners), "rows": len(rows)})
    return ImportResult(imported=True, winners=len(winners))
