"""Live writes: check-in, screen keys, draws, entries, performing, claims, redraws.

Every function here is one transaction. Draw-changing functions lock the draw row
(``select_for_update``) so that entering, closing and performing are serialised per
draw: an entry either is in the frozen digest or was refused. Messages go out on
``draw:<id>`` and ``event:<event_id>`` after commit (see live/streams.py).
"""

from __future__ import annotations

import json
import secrets
from collections import defaultdict
from datetime import date, datetime, time, timedelta
from time import perf_counter
from typing import Any
from zoneinfo import ZoneInfo

from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.db.models import Case, F, IntegerField, Value, When
from django.db.models.functions import Concat
from django.utils import timezone

from core import audit, metrics, webhooks
from core.failpoints import failpoint
from core.models import Event, User
from core.selectors.events import PUBLIC_STATUSES
from core.streams import publish_on_commit
from live import checkin as checkin_codes
from live import fairness
from live.errors import (
    AlreadyCheckedIn,
    AlreadyClaimed,
    AlreadyEntered,
    AlreadyPerformed,
    BallotLimitReached,
    ClaimWindowClosed,
    ClaimWindowOpen,
    DrawHasEntries,
    DrawNotEditable,
    EntriesClosed,
    EventNotOpen,
    InvalidBallot,
    InvalidCheckinCode,
    InvalidExternalWinners,
    NotAWinner,
    NotCheckedIn,
    NotEnterable,
    NothingToRedraw,
    NotPerformed,
    NotTicketHolder,
    PhoneNotVerified,
    RedrawNotSupported,
)
from live.models import CheckIn, Draw, Entry, Prize, ScreenKey, Winner
from live.selectors import (
    entries_at,
    entries_digest,
    is_checked_in,
    proof_url,
    screen_key_hash,
)
from live.streams import draw_state, prize_state, publish_draw, screen_stream, winner_state
from ticketing.selectors import ticket_holders

# --- Check-in and screen keys -------------------------------------------------


@transaction.atomic
def checkin_user(*, event: Event, user: User, nonce: str = "", code: str | None = None
                 ) -> tuple[CheckIn, bool]:
    """Check `user` in to `event`. Returns (check-in, created).

    A repeat with the same non-empty nonce returns the existing check-in, created=False
    (pretix semantics, even if the code has rotated since). Raises EventNotOpen (409),
    AlreadyCheckedIn (409) or InvalidCheckinCode (400). Writes nothing on error.
    """
    existing = CheckIn.objects.filter(event=event, user=user).first()
    if existing is not None:
        if nonce and existing.nonce == nonce:
            return existing, False
        raise AlreadyCheckedIn()
    if event.status not in (Event.Status.PUBLISHED, Event.Status.LIVE):
        raise EventNotOpen()
    if event.checkin_code_required and not checkin_codes.code_is_valid(event, code):
        raise InvalidCheckinCode()
    try:
        with transaction.atomic():
            return CheckIn.objects.create(event=event, user=user, nonce=nonce), True
    except IntegrityError:  # a concurrent request for the same user won
        existing = CheckIn.objects.get(event=event, user=user)
        if nonce and existing.nonce == nonce:
            return existing, False
        raise AlreadyCheckedIn() from None


@transaction.atomic
def screen_key_issue(*, event: Event, actor: User | None, label: str = "") -> tuple[ScreenKey,
                                                                                      str]:
    """Issue a screen key for `event`. Returns (row, key): the key is shown once only."""
    key = secrets.token_urlsafe(32)
    row = ScreenKey.objects.create(event=event, label=label, created_by=actor,
                                   key_hash=screen_key_hash(key))
    return row, key


@transaction.atomic
def screen_key_revoke(*, screen_key: ScreenKey) -> ScreenKey:
    """Revoke a screen key (idempotent); screens using it can no longer connect."""
    ScreenKey.objects.filter(pk=screen_key.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now())
    screen_key.refresh_from_db()
    return screen_key


def publish_checkin_code(*, event: Event) -> dict:
    """Send the event's current check-in code to its venue screens (no database write)."""
    data = {"event_id": event.pk, **checkin_codes.current_code(event)}
    publish_on_commit(screen_stream(event.pk), "checkin.code", data)
    return data


# --- Draws: create and edit ----------------------------------------------------


def next_daily_occurrence(*, local_time: time, tz_name: str, after: datetime) -> datetime:
    """The first instant strictly after `after` when the clock in `tz_name` shows `local_time`."""
    tz = ZoneInfo(tz_name)
    day: date = after.astimezone(tz).date()
    while True:
        candidate = datetime.combine(day, local_time, tzinfo=tz)
        if candidate > after:
            return candidate
        day += timedelta(days=1)


def _set_prizes(draw: Draw, prizes: list[dict[str, Any]]) -> None:
    draw.prizes.all().delete()
    Prize.objects.bulk_create([Prize(draw=draw, **prize) for prize in prizes])


@transaction.atomic
def draw_create(*, event: Event, prizes: list[dict[str, Any]], **fields: Any) -> Draw:
    """Create a draw with its prizes from validated fields. A fresh seed is committed.

    Raises EligibilityNotAvailable (400) for ticket-holder draws without ticketing.
    Publishes draw.created (with the seed commitment).
    """
    if fields.get("recurrence") == Draw.Recurrence.DAILY and not fields.get("scheduled_at"):
        fields["scheduled_at"] = next_daily_occurrence(
            local_time=fields["recurrence_time"], tz_name=event.time_zone, after=timezone.now())
    seed = fairness.new_seed()
    draw = Draw.objects.create(
        event=event, algorithm=fairness.ALGORITHM, seed=seed,
        seed_commitment=fairness.commitment(seed), **fields,
    )
    _set_prizes(draw, prizes)
    publish_draw(draw, "draw.created", {"draw": draw_state(draw)})
    return draw


@transaction.atomic
def draw_update(*, draw: Draw, prizes: list[dict[str, Any]] | None = None, **fields: Any
                ) -> Draw:
    """Edit an open draw (and replace its prizes when given). Raises DrawNotEditable or
    DrawHasEntries (409). Publishes draw.updated."""
    locked = Draw.objects.select_for_update().get(pk=draw.pk)
    if locked.status != Draw.Status.OPEN:
        raise DrawNotEditable()
    shape = ("kind", "numbers_count", "numbers_max")
    if locked.entries_count and any(
            name in fields and fields[name] != getattr(locked, name) for name in shape):
        raise DrawHasEntries()
    for name, value in fields.items():
        setattr(locked, name, value)
    locked.save()
    if prizes is not None:
        _set_prizes(locked, prizes)
    publish_draw(locked, "draw.updated", {"draw": draw_state(locked)})
    return locked


# --- Entering -----------------------------------------------------------------


def _check_eligible(draw: Draw, user: User) -> None:
    if draw.requires_verified_phone and not user.is_phone_verified:
        raise PhoneNotVerified()
    if draw.eligibility == Draw.Eligibility.CHECKED_IN and not is_checked_in(
            event_id=draw.event_id, user_id=user.pk):
        raise NotCheckedIn()
    if (draw.eligibility == Draw.Eligibility.TICKET_HOLDERS
            and not ticket_holders(draw.event).filter(pk=user.pk).exists()):
        raise NotTicketHolder()


def normalize_ballot(draw: Draw, numbers: Any) -> str:
    """"3,7,12" from a list of k distinct integers in 1..N, or InvalidBallot (400)."""
    k, n = draw.numbers_count, draw.numbers_max
    if not isinstance(numbers, list) or not all(
            isinstance(x, int) and not isinstance(x, bool) for x in numbers):
        raise InvalidBallot(f"`numbers` must be a list of {k} whole numbers.")
    if len(numbers) != k:
        raise InvalidBallot(f"A ballot has exactly {k} numbers.")
    if len(set(numbers)) != k:
        raise InvalidBallot("The numbers of a ballot must be distinct.")
    if not all(1 <= x <= n for x in numbers):
        raise InvalidBallot(f"Numbers must be between 1 and {n}.")
    return ",".join(str(x) for x in sorted(numbers))


def _entries_open(draw: Draw) -> bool:
    if draw.status != Draw.Status.OPEN:
        return False
    return draw.entries_close_at is None or draw.entries_close_at > timezone.now()


@transaction.atomic
def draw_enter(*, draw: Draw, user: User, numbers: Any = None) -> Entry:
    """Enter `user` in `draw` (a lottery ballot when the draw is a lottery).

    Locks the draw row, so closing waits for in-flight entries. Raises, in order:
    NotEnterable, EntriesClosed (409), PhoneNotVerified / NotCheckedIn /
    NotTicketHolder (403), InvalidBallot (400), AlreadyEntered / BallotLimitReached (409).
    Publishes draw.entries {count}.
    """
    locked = Draw.objects.select_for_update().select_related("event").get(pk=draw.pk)
    if locked.kind == Draw.Kind.EXTERNAL:
        raise NotEnterable()
    if not _entries_open(locked) or locked.event.status not in PUBLIC_STATUSES:
        raise EntriesClosed()
    _check_eligible(locked, user)
    held = Entry.objects.filter(draw=locked, user=user).count()
    if locked.kind == Draw.Kind.LOTTERY:
        ballot = normalize_ballot(locked, numbers)
        if held >= locked.max_ballots:
            raise BallotLimitReached()
    else:
        if numbers is not None:
            raise InvalidBallot("A raffle entry carries no numbers.")
        ballot = ""
        if held:
            raise AlreadyEntered()
    Draw.objects.filter(pk=locked.pk).update(entries_count=F("entries_count") + 1)
    locked.refresh_from_db(fields=["entries_count"])
    try:
        with transaction.atomic():
            entry = Entry.objects.create(draw=locked, user=user, ballot_no=held + 1,
                                         numbers=ballot, position=locked.entries_count)
    except IntegrityError:  # only on a database without row locks (SQLite serialises anyway)
        raise AlreadyEntered() from None
    publish_draw(locked, "draw.entries", {"count": locked.entries_count})
    return entry


# --- Closing and performing -----------------------------------------------------


def _close(draw: Draw) -> None:
    """Freeze the (locked) draw's entries into its digest and publish draw.closing."""
    draw.entries_digest, draw.entries_count = entries_digest(draw)
    draw.status = Draw.Status.CLOSED
    draw.closed_at = timezone.now()
    draw.save(update_fields=["entries_digest", "entries_count", "status", "closed_at",
                             "updated_at"])
    publish_draw(draw, "draw.closing", {
        "status": draw.status, "entries_count": draw.entries_count,
        "entries_digest": draw.entries_digest, "closed_at": draw.closed_at,
    })


@transaction.atomic
def draw_close_entries(*, draw: Draw) -> Draw:
    """Close an open draw's entries now (the scheduler calls this at entries_close_at)."""
    locked = Draw.objects.select_for_update().get(pk=draw.pk)
    if locked.status == Draw.Status.OPEN:
        _close(locked)
    return locked


def _winner(draw: Draw, prize: Prize, entry_id: int | None, user_id: int, now: datetime,
            **extra: Any) -> Winner:
    return Winner(draw=draw, prize=prize, entry_id=entry_id, user_id=user_id, created_at=now,
                  claim_deadline=now + timedelta(minutes=draw.claim_window_minutes), **extra)


def _pick_winners(draw: Draw, slots: list[Prize], start: int, round_: int, now: datetime
                  ) -> list[Winner]:
    """Winners for `slots` (one prize per slot) from fairness picks start.. of the draw."""
    indices = fairness.pick_indices(draw.seed, draw.entries_digest, draw.entries_count,
                                    start + len(slots))[start:]
    rows = entries_at(draw, indices)
    return [
        _winner(draw, prize, rows[index][0], rows[index][1], now, pick=start + i, round=round_)
        for i, (index, prize) in enumerate(zip(indices, slots, strict=False))
    ]


def _lottery_winners(draw: Draw, prizes: list[Prize], now: datetime) -> list[Winner]:
    if not prizes:
        return []
    if draw.lottery_mode == Draw.LotteryMode.SINGLE_BALLOT:
        if not draw.entries_count:
            draw.winning_numbers = None
            return []
        index = fairness.pick_indices(draw.seed, draw.entries_digest, draw.entries_count, 1)[0]
        numbers = entries_at(draw, [index])[index][2]
        # Ties (same numbers) go to the earliest ballot.
        earliest = Entry.objects.filter(draw=draw, numbers=numbers).order_by("position").first()
        draw.winning_numbers = [int(n) for n in numbers.split(",")]
        return [_winner(draw, prizes[0], earliest.pk, earliest.user_id, now, pick=0)]
    drawn = fairness.winning_numbers(draw.seed, draw.entries_digest, draw.numbers_count,
                                     draw.numbers_max)
    draw.winning_numbers = drawn
    tiers = {p.matches: p for p in prizes if p.matches is not None}
    if not tiers:
        return []
    padded = Concat(Value(","), "numbers", Value(","))
    matches = sum(
        (Case(When(padded__contains=f",{n},", then=Value(1)), default=Value(0),
              output_field=IntegerField()) for n in drawn),
        Value(0),
    )
    ballots = (Entry.objects.filter(draw=draw).annotate(padded=padded, hits=matches)
               .filter(hits__in=list(tiers)).order_by("position")
               .values_list("id", "user_id", "hits"))
    return [_winner(draw, tiers[hits], entry_id, user_id, now)
            for entry_id, user_id, hits in ballots.iterator(chunk_size=2000)]


def _external_winners(draw: Draw, prizes: list[Prize], winners: Any, now: datetime
                      ) -> list[Winner]:
    by_id = {p.pk: p for p in prizes}
    if not isinstance(winners, list) or not winners:
        raise InvalidExternalWinners("An external draw is performed with its `winners` list.")
    used: dict[int, int] = defaultdict(int)
    rows = []
    for item in winners:
        prize_id = item.get("prize_id") if isinstance(item, dict) else None
        user_id = item.get("user_id") if isinstance(item, dict) else None
        # Plain ints only: a list or dict is unhashable, True is an int to Python,
        # and a 30-digit id overflows the database's bigint.
        if not all(type(v) is int and 0 < v < 2**63 for v in (prize_id, user_id)):
            raise InvalidExternalWinners()
        prize = by_id.get(prize_id)
        if prize is None:
            raise InvalidExternalWinners()
        used[prize.pk] += 1
        if used[prize.pk] > prize.quantity:
            raise InvalidExternalWinners(f"Prize {prize.pk} has only {prize.quantity} units.")
        rows.append(_winner(draw, prize, None, user_id, now))
    known = set(User.objects.filter(pk__in=[w.user_id for w in rows]).values_list("pk", flat=True))
    if any(w.user_id not in known for w in rows):
        raise InvalidExternalWinners("A winner names no existing user.")
    return rows


def _emit(draw: Draw, kind: str, payload: dict) -> None:
    # WebhookDelivery.payload is a plain JSONField: dates go in as ISO strings.
    webhooks.emit(event_id=draw.event_id, kind=kind,
                  payload=json.loads(json.dumps(payload, cls=DjangoJSONEncoder)))


def actor_id(actor: str) -> int | None:
    """The user id in an actor label ("user:7", "admin:7"), None for "scheduler" and the like."""
    kind, _, ident = actor.partition(":")
    return int(ident) if kind in ("user", "admin") and ident.isdigit() else None


def _announce(draw: Draw, winners: list[Winner]) -> None:
    """Publish draw.winner per prize after commit, and queue the draw.winner webhook
    for each in the caller's transaction (a rolled-back draw sends nothing)."""
    by_prize: dict[int, list[Winner]] = defaultdict(list)
    for winner in winners:
        by_prize[winner.prize_id].append(winner)
    for prize_winners in by_prize.values():
        prize = prize_winners[0].prize
        publish_draw(draw, "draw.winner", {
            "prize": prize_state(prize), "winners": [winner_state(w) for w in prize_winners],
            "proof_url": proof_url(draw),
        })
        _emit(draw, "draw.winner", {
            "draw_id": draw.pk, "prize": {"id": prize.pk, "name": prize.name},
            "winners": [{"winner_id": w.pk, "user_id": w.user_id, "round": w.round}
                        for w in prize_winners],
        })


def _store_winners(winners: list[Winner]) -> list[Winner]:
    Winner.objects.bulk_create(winners, batch_size=2000)
    if winners and winners[0].pk is None:  # backends that do not return ids
        draw_id = winners[0].draw_id
        return list(Winner.objects.filter(draw_id=draw_id).select_related("user", "prize")
                    .order_by("id")[: len(winners)])
    users = User.objects.in_bulk([w.user_id for w in winners])
    for winner in winners:
        winner.user = users[winner.user_id]
    return winners


@transaction.atomic
def draw_perform(*, draw: Draw, actor: str, external_winners: Any = None) -> Draw:
    """Close entries (if open), draw and store the winners, reveal the seed.

    Locks the draw row; a second call raises AlreadyPerformed (409) and changes
    nothing. Raffles pick min(entries, prize units) distinct entries; lotteries draw
    winning numbers (tiers) or one ballot; external draws store `external_winners`
    ([{prize_id, user_id}], InvalidExternalWinners 400). Never loads all entries:
    the digest is computed in SQL or in chunks, winners are fetched by position.
    Publishes draw.closing (if it closes now), draw.started, draw.winner per prize,
    draw.finished. Queues the draw.performed webhook and one draw.winner per prize with
    winners, and writes the draw.performed audit entry, all in this transaction.
    """
    started = perf_counter()
    locked = Draw.objects.select_for_update().get(pk=draw.pk)
    if locked.is_performed:
        raise AlreadyPerformed()
    prizes = list(locked.prizes.order_by("rank", "id"))
    now = timezone.now()
    if locked.kind == Draw.Kind.EXTERNAL:
        winners = _external_winners(locked, prizes, external_winners, now)
    if locked.status == Draw.Status.OPEN:
        _close(locked)
    publish_draw(locked, "draw.started", {})
    if locked.kind == Draw.Kind.RAFFLE:
        slots = [p for p in prizes for _ in range(p.quantity)]
        winners = _pick_winners(locked, slots, 0, 0, now)
    elif locked.kind == Draw.Kind.LOTTERY:
        winners = _lottery_winners(locked, prizes, now)
    winners = _store_winners(winners)
    locked.status = Draw.Status.PERFORMED
    locked.performed_at = now
    locked.performed_by = actor[:120]
    locked.save(update_fields=["status", "performed_at", "performed_by", "winning_numbers",
                               "updated_at"])
    _announce(locked, winners)
    summary = {"draw_id": locked.pk, "kind": locked.kind, "performed_at": locked.performed_at,
               "entries_count": locked.entries_count, "winners_count": len(winners),
               "winning_numbers": locked.winning_numbers}
    _emit(locked, "draw.performed", summary)
    audit.record(action="draw.performed", obj=locked, actor=actor_id(actor),
                 data={**summary, "actor": actor, "seed": locked.seed,
                       "entries_digest": locked.entries_digest})
    # Fault tests stall a scheduler here and kill it: everything above is rolled back.
    failpoint("draw.perform.before_commit")
    publish_draw(locked, "draw.finished", {
        "status": locked.status, "seed": locked.seed, "performed_at": locked.performed_at,
        "winning_numbers": locked.winning_numbers, "proof_url": proof_url(locked),
    })
    metrics.DRAW_DURATION.labels(locked.kind).observe(perf_counter() - started)
    return locked


# --- Claims and redraws -----------------------------------------------------------


@transaction.atomic
def prize_claim(*, draw: Draw, user: User) -> list[Winner]:
    """Claim `user`'s pending prizes in `draw` within their claim window.

    Raises NotPerformed / AlreadyClaimed / ClaimWindowClosed (409), NotAWinner (403).
    Publishes draw.claimed, queues the prize.claimed webhook and writes the
    prize.claimed audit entry per claimed prize.
    """
    if not Draw.objects.filter(pk=draw.pk, status=Draw.Status.PERFORMED).exists():
        raise NotPerformed()
    wins = list(Winner.objects.select_for_update().select_related("prize")
                .filter(draw=draw, user=user).order_by("id"))
    if not wins:
        raise NotAWinner()
    now = timezone.now()
    pending = [w for w in wins if w.claimed_at is None and w.forfeited_at is None]
    if not pending:
        if any(w.claimed_at for w in wins):
            raise AlreadyClaimed()
        raise ClaimWindowClosed()
    claimable = [w for w in pending if w.claim_deadline > now]
    if not claimable:
        raise ClaimWindowClosed()
    Winner.objects.filter(pk__in=[w.pk for w in claimable]).update(claimed_at=now)
    for winner in claimable:
        winner.claimed_at = now
        publish_draw(draw, "draw.claimed", {"winner_id": winner.pk, "claimed_at": now})
        claim = {"draw_id": draw.pk, "winner_id": winner.pk, "user_id": user.pk,
                 "prize": {"id": winner.prize_id, "name": winner.prize.name}, "claimed_at": now}
        _emit(draw, "prize.claimed", claim)
        audit.record(action="prize.claimed", obj=winner, actor=user, data=claim)
    return claimable


@transaction.atomic
def draw_redraw(*, draw: Draw, actor: str) -> list[Winner]:
    """Forfeit prizes unclaimed after their window and draw replacements.

    Replacements continue the draw's fairness pick sequence, so they come from
    entries that have not won, and the proof covers them. Raffles only. Raises
    NotPerformed, RedrawNotSupported, ClaimWindowOpen, NothingToRedraw (409).
    Publishes draw.forfeited and draw.winner per prize; queues draw.winner webhooks and
    writes the draw.redrawn audit entry.
    """
    locked = Draw.objects.select_for_update().get(pk=draw.pk)
    if not locked.is_performed:
        raise NotPerformed()
    if locked.kind != Draw.Kind.RAFFLE:
        raise RedrawNotSupported()
    now = timezone.now()
    pending = list(Winner.objects.select_for_update().select_related("prize").filter(
        draw=locked, claimed_at__isnull=True, forfeited_at__isnull=True).order_by("pick", "id"))
    expired = [w for w in pending if w.claim_deadline <= now]
    if not expired:
        raise ClaimWindowOpen() if pending else NothingToRedraw()
    Winner.objects.filter(pk__in=[w.pk for w in expired]).update(forfeited_at=now)
    publish_draw(locked, "draw.forfeited", {"winner_ids": [w.pk for w in expired],
                                            "forfeited_at": now})
    picked = Winner.objects.filter(draw=locked, pick__isnull=False).count()
    round_ = max(w.round for w in Winner.objects.filter(draw=locked)) + 1
    replacements = _store_winners(
        _pick_winners(locked, [w.prize for w in expired], picked, round_, now))
    _announce(locked, replacements)
    audit.record(action="draw.redrawn", obj=locked, actor=actor_id(actor), data={
        "actor": actor, "round": round_, "forfeited": [w.pk for w in expired],
        "replacements": [{"winner_id": w.pk, "user_id": w.user_id, "prize_id": w.prize_id}
                         for w in replacements]})
    return replacements


# --- Recurrence ------------------------------------------------------------------


def draw_create_next_occurrence(*, draw: Draw) -> Draw | None:
    """Create the next daily occurrence of a performed recurring draw, exactly once
    (the successor link is unique). Returns the new draw, or None if there is none to make."""
    if draw.recurrence != Draw.Recurrence.DAILY or not draw.is_performed:
        return None
    after = draw.scheduled_at or draw.performed_at
    scheduled_at = next_daily_occurrence(local_time=draw.recurrence_time,
                                          tz_name=draw.event.time_zone, after=after)
    close_at = None
    if draw.entries_close_at and draw.scheduled_at:
        close_at = scheduled_at - (draw.scheduled_at - draw.entries_close_at)
    fields = {
        name: getattr(draw, name) for name in (
            "title", "kind", "eligibility", "requires_verified_phone", "claim_window_minutes",
            "numbers_count", "numbers_max", "max_ballots", "lottery_mode", "recurrence",
            "recurrence_time")
    }
    prizes = [{"name": p.name, "quantity": p.quantity, "rank": p.rank, "matches": p.matches}
              for p in draw.prizes.all()]
    try:
        with transaction.atomic():
            return draw_create(event=draw.event, prizes=prizes, previous=draw,
                               scheduled_at=scheduled_at, entries_close_at=close_at, **fields)
    except IntegrityError:  # another scheduler made it first
        return None

