"""Live reads shared by views, the scheduler, streams and the admin."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

from django.db import connection, transaction
from django.db.models import F, Max, Prefetch, QuerySet, Window
from django.db.models.functions import RowNumber

from core.links import absolute_url
from core.selectors.events import event_get
from live.beacon import Chain
from live.errors import DrawNotFound, EntryNotFound, WinningBallotNotFound
from live.fairness import EntryDigest, entry_line
from live.models import CheckIn, Draw, Entry, ScreenKey, Winner

DIGEST_CHUNK = 20_000


def draws_with_state() -> QuerySet[Draw]:
    """Draws with what their stream state needs, in two extra queries."""
    return Draw.objects.select_related("event").prefetch_related(
        "prizes",
        Prefetch("winners", queryset=Winner.objects.select_related("user", "prize")),
    )


def draw_get(*, event_id: int, draw_id: int, user) -> Draw:
    """A draw of an event the user may see, or DrawNotFound / EventNotFound (404)."""
    event_get(event_id=event_id, user=user)
    try:
        return draws_with_state().get(pk=draw_id, event_id=event_id)
    except Draw.DoesNotExist:
        raise DrawNotFound() from None


def draw_list(*, event_id: int, user) -> QuerySet[Draw]:
    event_get(event_id=event_id, user=user)
    return draws_with_state().filter(event_id=event_id).order_by("id")


def is_checked_in(*, event_id: int, user_id: int) -> bool:
    return CheckIn.objects.filter(event_id=event_id, user_id=user_id).exists()


def screen_key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def screen_key_valid(event_id: int, key: str) -> bool:
    """Is `key` an unrevoked screen key of this event?"""
    if not key:
        return False
    return ScreenKey.objects.filter(
        event_id=event_id, key_hash=screen_key_hash(key), revoked_at__isnull=True
    ).exists()


# --- Entries, without loading them all into Python ---------------------------


def entries_digest(draw: Draw) -> tuple[str, int]:
    """(sha256 hex of the entry lines in position order, count).

    On PostgreSQL one statement: string_agg over a subquery ordered by the
    (draw, position) index, which is twice as fast as string_agg(... ORDER BY),
    which sorts. Input order of an aggregate over an ordered subquery holds for a
    serial plan, so parallel workers are switched off for this transaction (the
    tests compare it with the Python digest). Elsewhere keyset chunks, flat memory.
    """
    if connection.vendor == "postgresql":
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL max_parallel_workers_per_gather = 0")
            cursor.execute(
                f"""
                SELECT encode(sha256(convert_to(coalesce(string_agg(line, E'\\n'), ''),
                                                'UTF8')), 'hex'), count(*)
                FROM (SELECT CASE WHEN numbers = '' THEN id::text
                                  ELSE id::text || ':' || numbers END AS line
                      FROM {Entry._meta.db_table} WHERE draw_id = %s ORDER BY position) lines
                """,  # noqa: S608 - the table name is ours, the value a parameter
                [draw.pk],
            )
            digest, count = cursor.fetchone()
            return digest, count
    digest = EntryDigest()
    for entry_id, numbers in iter_entry_rows(draw):
        digest.update(entry_line(entry_id, numbers))
    return digest.hexdigest(), digest.count


def iter_entry_rows(draw: Draw, chunk: int = DIGEST_CHUNK) -> Iterator[tuple[int, str]]:
    """(id, numbers) of a draw's entries in position order, fetched by keyset chunks."""
    last = 0
    while True:
        rows = list(
            Entry.objects.filter(draw_id=draw.pk, position__gt=last)
            .order_by("position").values_list("position", "id", "numbers")[:chunk]
        )
        yield from ((entry_id, numbers) for _, entry_id, numbers in rows)
        if len(rows) < chunk:
            return
        last = rows[-1][0]


def entries_at(draw: Draw, positions: list[int]) -> dict[int, tuple[int, int, str]]:
    """{index: (entry id, user id, numbers)} for 0-based indexes in the frozen order.

    Positions are 1..n without gaps unless an entry was deleted: then one pass with
    row_number() in the database finds the rows instead of an index lookup."""
    if not positions:
        return {}
    wanted = [p + 1 for p in positions]
    entries = Entry.objects.filter(draw_id=draw.pk)
    contiguous = entries.aggregate(last=Max("position"))["last"] == draw.entries_count
    if not contiguous:
        entries = entries.annotate(
            rank=Window(RowNumber(), order_by=F("position").asc())).filter(rank__in=wanted)
        rows = entries.values_list("rank", "id", "user_id", "numbers")
    else:
        rows = entries.filter(position__in=wanted).values_list(
            "position", "id", "user_id", "numbers")
    return {pos - 1: (entry_id, user_id, numbers) for pos, entry_id, user_id, numbers in rows}


def proof_url(draw: Draw) -> str:
    return absolute_url(f"/api/events/{draw.event_id}/draws/{draw.pk}/proof/")


def verify_url(draw: Draw) -> str:
    """The attendee app's page that recomputes the draw in the browser (docs/fairness.md)."""
    return absolute_url(f"/app/#/events/{draw.event_id}/draws/{draw.pk}/verify")


def _proof_beacon(draw: Draw, performed: bool) -> dict | None:
    """The beacon section of a tombola-beacon-v2 proof (docs/fairness.md)."""
    if not draw.beacon_chain:
        return None
    chain = draw.beacon_chain
    round_at = None
    if draw.beacon_round:
        round_at = Chain.from_dict(chain).round_time(draw.beacon_round)
    return {
        "chain": chain, "round": draw.beacon_round, "round_at": round_at,
        "randomness": draw.beacon_randomness or None if performed else None,
        "signature": draw.beacon_signature or None if performed else None,
        "previous_signature": draw.beacon_previous_signature or None if performed else None,
        "fallback": draw.beacon_fallback,
    }


def draw_proof(draw: Draw) -> dict:
    """Everything needed to recompute the winners; entry ids only, no personal data."""
    performed = draw.is_performed
    lottery = None
    if draw.kind == Draw.Kind.LOTTERY:
        lottery = {
            "mode": draw.lottery_mode, "numbers_count": draw.numbers_count,
            "numbers_max": draw.numbers_max, "winning_numbers": draw.winning_numbers,
        }
    frozen = draw.status != Draw.Status.OPEN
    return {
        "draw_id": draw.pk,
        "kind": draw.kind,
        "algorithm": draw.algorithm,
        "beacon": _proof_beacon(draw, performed),
        "entries_close_at": draw.entries_close_at,
        "scheduled_at": draw.scheduled_at,
        "closed_at": draw.closed_at,
        "seed_commitment": draw.seed_commitment,
        "seed": draw.seed if performed else None,
        "entries_digest": draw.entries_digest or None,
        "entries_count": draw.entries_count if frozen else None,
        "entries": [entry_line(i, n) for i, n in iter_entry_rows(draw)] if frozen else None,
        "prizes": [
            {"id": p.id, "name": p.name, "rank": p.rank, "quantity": p.quantity,
             "matches": p.matches}
            for p in draw.prizes.all()
        ],
        "lottery": lottery,
        "winners": [
            {"prize_id": w.prize_id, "entry_id": w.entry_id, "pick": w.pick, "round": w.round}
            for w in draw.winners.order_by("id")
        ],
    }


# --- Lottery ballots ---------------------------------------------------------


def ballots_of(*, user) -> QuerySet[Entry]:
    """The user's lottery ballots, newest first (filtered by live/filters.py)."""
    return (
        Entry.objects.filter(user=user, draw__kind=Draw.Kind.LOTTERY)
        .select_related("draw", "win__prize").order_by("-created_at", "-id")
    )


def ballot_get(*, user, ballot_id: int) -> Entry:
    try:
        return ballots_of(user=user).get(pk=ballot_id)
    except Entry.DoesNotExist:
        raise EntryNotFound() from None


def winning_ballots() -> QuerySet[Winner]:
    """Lottery winners of public events, newest first: what anyone may read."""
    from core.selectors.events import PUBLIC_STATUSES

    return (
        Winner.objects.filter(draw__kind=Draw.Kind.LOTTERY, draw__event__status__in=PUBLIC_STATUSES,
                              entry__isnull=False, forfeited_at__isnull=True)
        .select_related("entry", "prize", "user", "draw").order_by("-created_at", "-id")
    )


def winning_ballot_get(*, winner_id: int) -> Winner:
    try:
        return winning_ballots().get(pk=winner_id)
    except Winner.DoesNotExist:
        raise WinningBallotNotFound() from None


# --- A user's entries across events ------------------------------------------


def entries_of(*, user) -> QuerySet[Entry]:
    """The user's entries in every draw, newest first, with the draw, its event and the
    entry's win (prize) loaded; `entry_states` adds external draws' wins per page."""
    return (Entry.objects.filter(user=user)
            .select_related("draw__event", "win__prize").order_by("-created_at", "-id"))


def external_wins(*, user, entries: list[Entry]) -> dict[int, Winner]:
    """{draw id: the user's win (a live one first)} for the performed external draws among
    `entries` (their winners are imported by user, not by entry): one query, or none."""
    draws = {e.draw_id for e in entries if e.draw.kind == Draw.Kind.EXTERNAL
             and e.draw.status == Draw.Status.PERFORMED}
    if not draws:
        return {}
    live_first = F("forfeited_at").asc(nulls_first=True)
    wins = (Winner.objects.filter(user=user, draw_id__in=draws).select_related("prize")
            .order_by("draw_id", live_first, "prize__rank", "id"))
    found: dict[int, Winner] = {}
    for win in wins:
        found.setdefault(win.draw_id, win)
    return found


def winners_by_phone_last4(*, draw: Draw, last4: str) -> QuerySet[Winner]:
    """Winners of `draw` whose phone ends with `last4` (the public result lookup)."""
    return (Winner.objects.filter(draw=draw, user__phone__endswith=last4)
            .select_related("user", "prize").order_by("prize__rank", "id"))


def entry_state(entry: Entry, win: Winner | None) -> str:
    """Where an entry stands: `open` (entries open), `closed` (entries closed, not drawn
    yet), `won` (a prize, claimed or not), `forfeited` (won, not claimed in time, redrawn)
    or `not_won` (drawn, no prize)."""
    draw = entry.draw
    if draw.status == Draw.Status.OPEN:
        return "open"
    if draw.status in (Draw.Status.CLOSED, Draw.Status.AWAITING_BEACON):
        return "closed"  # awaiting its beacon round is still "not drawn yet", not "not_won"
    if win is None:
        return "not_won"
    return "forfeited" if win.forfeited_at is not None else "won"
