"""Draws: create, edit, enter (one or many), close entries, and the next daily occurrence.

Draw-changing functions lock the draw row (``select_for_update``) so that entering,
closing and performing are serialised per draw: an entry either is in the frozen
digest or was refused. Messages go out on ``draw:<id>`` and ``event:<event_id>``
after commit (live/streams.py; their data: live/draw_messages.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from core import audit
from core.models import Event, User
from core.selectors.events import PUBLIC_STATUSES
from live import fairness
from live.beacon import Chain
from live.beacon_config import beacon_chain
from live.draw_messages import draw_closing_data, draw_entries_data, draw_replaced_data
from live.errors import (
    AlreadyEntered,
    BallotLimitReached,
    BeaconNotConfigured,
    DrawHasEntries,
    DrawNotEditable,
    DrawScheduledInPast,
    EntriesClosed,
    InvalidBallot,
    NotCheckedIn,
    NotEnterable,
    NotTicketHolder,
    PhoneNotVerified,
)
from live.models import Draw, Entry, Prize
from live.selectors import (
    entries_digest,
    is_checked_in,
)
from live.streams import publish_draw
from ticketing.selectors import ticket_holders


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


def _audit_draw(action: str, draw: Draw, actor: User | None, source: str,
                fields: dict[str, Any], prizes: list[dict[str, Any]] | None) -> None:
    data: dict[str, Any] = {"actor": audit.actor_label(actor, source),
                            "fields": {name: getattr(draw, Draw._meta.get_field(name).attname)
                                       for name in fields}}
    if prizes is not None:
        data["prizes"] = prizes
    audit.record(action=action, obj=draw, actor=actor, data=data)


def beacon_target_round(draw: Draw, *, closed_at: datetime | None = None) -> int | None:
    """The first round of the draw's beacon published after its entries close and after
    its scheduled time (and after `closed_at`, when entries actually closed), or None
    while neither time is known (a draw closed by hand gets its round when it closes)."""
    times = [t for t in (draw.entries_close_at, draw.scheduled_at, closed_at) if t]
    if not draw.beacon_chain or not times:
        return None
    return Chain.from_dict(draw.beacon_chain).round_after(max(times).timestamp())


def _use_beacon(draw: Draw, algorithm: str | None) -> None:
    """Record the configured beacon on a new draw (v2) unless v1 is asked for."""
    chain = beacon_chain()
    if algorithm == fairness.ALGORITHM_BEACON and chain is None:
        raise BeaconNotConfigured()
    if draw.kind == Draw.Kind.EXTERNAL or chain is None or algorithm == fairness.ALGORITHM:
        draw.algorithm = fairness.ALGORITHM
        return
    draw.algorithm = fairness.ALGORITHM_BEACON
    draw.beacon_chain = chain.as_dict()
    draw.beacon_round = beacon_target_round(draw)


def _check_schedule(scheduled_at: datetime | None) -> None:
    if scheduled_at is not None and scheduled_at <= timezone.now():
        raise DrawScheduledInPast()


@transaction.atomic
def draw_create(*, event: Event, prizes: list[dict[str, Any]], actor: User | None, source: str,
                algorithm: str | None = None, **fields: Any) -> Draw:
    """Create a draw with its prizes from validated fields. A fresh seed is committed.

    `actor` is the staff user (None for the scheduler's next occurrence); `source` says
    through what ("api", "admin", "scheduler", "demo"). Raises EligibilityNotAvailable
    (400) for ticket-holder draws without ticketing, DrawScheduledInPast (400) for a
    scheduled_at that is not in the future (the scheduler would perform it at once, with
    no entries). The fairness scheme is `algorithm` when given, else tombola-beacon-v2
    when a beacon is configured (BEACON_RELAYS; the chain and the target round are
    recorded now) and tombola-hmac-sha256-v1 otherwise; BeaconNotConfigured (400) for v2
    without a beacon. Publishes draw.created (with the seed commitment); writes the
    draw.created audit entry.
    """
    if fields.get("recurrence") == Draw.Recurrence.DAILY and not fields.get("scheduled_at"):
        fields["scheduled_at"] = next_daily_occurrence(
            local_time=fields["recurrence_time"], tz_name=event.time_zone, after=timezone.now())
    _check_schedule(fields.get("scheduled_at"))
    seed = fairness.new_seed()
    draw = Draw(event=event, seed=seed, seed_commitment=fairness.commitment(seed), **fields)
    _use_beacon(draw, algorithm)
    draw.save(force_insert=True)
    _set_prizes(draw, prizes)
    _audit_draw("draw.created", draw, actor, source, fields, prizes)
    publish_draw(draw, "draw.created", draw_replaced_data(draw))
    return draw


@transaction.atomic
def draw_update(*, draw: Draw, actor: User | None, source: str,
                prizes: list[dict[str, Any]] | None = None, **fields: Any) -> Draw:
    """Edit an open draw (and replace its prizes when given).

    Locks the draw row. Raises DrawNotEditable (409) unless the draw is open,
    DrawHasEntries (409) when it has entries and `kind`, `numbers_count` or
    `numbers_max` would change, and DrawScheduledInPast (400) when scheduled_at moves to
    a time that is not in the future. Publishes draw.updated; writes the draw.updated
    audit entry (`actor`, `source` as for draw_create).
    """
    locked = Draw.objects.select_for_update().get(pk=draw.pk)
    if locked.status != Draw.Status.OPEN:
        raise DrawNotEditable()
    if "scheduled_at" in fields and fields["scheduled_at"] != locked.scheduled_at:
        _check_schedule(fields["scheduled_at"])
    shape = ("kind", "numbers_count", "numbers_max")
    if locked.entries_count and any(
            name in fields and fields[name] != getattr(locked, name) for name in shape):
        raise DrawHasEntries()
    for name, value in fields.items():
        setattr(locked, name, value)
    if locked.beacon_chain:  # a new close or schedule time moves the round with it
        locked.beacon_round = beacon_target_round(locked)
    locked.save()
    if prizes is not None:
        _set_prizes(locked, prizes)
    _audit_draw("draw.updated", locked, actor, source, fields, prizes)
    publish_draw(locked, "draw.updated", draw_replaced_data(locked))
    return locked


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
    # Lock the draw row only: FOR UPDATE over the join would also lock the event,
    # and every hold and purchase of that event would queue behind draw entries.
    locked = (Draw.objects.select_for_update(of=("self",)).select_related("event")
              .get(pk=draw.pk))
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
    publish_draw(locked, "draw.entries", draw_entries_data(locked))
    return entry


@transaction.atomic
def draw_enter_many(*, draw: Draw, user_ids: Sequence[int]) -> int:
    """Enter many users at once, one raffle entry each: demo data (seed_demo) and test
    factories, never a request. Trusted input: no eligibility checks, and a user already
    entered violates the entry's unique constraint (IntegrityError).

    Keeps draw_enter's invariants: the draw's row lock, gapless positions after the
    current ones, entries_count moved with them. Raises NotEnterable (external draws),
    EntriesClosed (not open). Publishes one draw.entries. Returns the new count.
    """
    locked = Draw.objects.select_for_update().get(pk=draw.pk)
    if locked.kind == Draw.Kind.EXTERNAL:
        raise NotEnterable()
    if locked.status != Draw.Status.OPEN:
        raise EntriesClosed()
    first = locked.entries_count + 1
    Entry.objects.bulk_create(
        [Entry(draw=locked, user_id=pk, ballot_no=1, position=first + i)
         for i, pk in enumerate(user_ids)], batch_size=2000)
    Draw.objects.filter(pk=locked.pk).update(entries_count=F("entries_count") + len(user_ids))
    locked.refresh_from_db(fields=["entries_count"])
    publish_draw(locked, "draw.entries", draw_entries_data(locked))
    return locked.entries_count


def close_locked(draw: Draw) -> None:
    """Freeze the draw's entries into its digest and publish draw.closing. The caller
    holds the draw's row lock (draw_close_entries, draw_perform)."""
    draw.entries_digest, draw.entries_count = entries_digest(draw)
    draw.status = Draw.Status.CLOSED
    draw.closed_at = timezone.now()
    if draw.beacon_chain:
        # Never a round published before the entries froze: a late close (a scheduler
        # outage, a manual close) moves the round to the first one after it, never earlier.
        draw.beacon_round = max(draw.beacon_round or 0,
                                beacon_target_round(draw, closed_at=draw.closed_at))
    draw.save(update_fields=["entries_digest", "entries_count", "status", "closed_at",
                             "beacon_round", "updated_at"])
    publish_draw(draw, "draw.closing", draw_closing_data(draw))


@transaction.atomic
def draw_close_entries(*, draw: Draw) -> Draw:
    """Close an open draw's entries now (the scheduler calls this at entries_close_at)."""
    locked = Draw.objects.select_for_update().get(pk=draw.pk)
    if locked.status == Draw.Status.OPEN:
        close_locked(locked)
    return locked


def draw_create_next_occurrence(*, draw: Draw) -> Draw | None:
    """Create the next daily occurrence of a performed recurring draw, exactly once
    (the successor link is unique). Returns the new draw, or None if there is none to make."""
    if draw.recurrence != Draw.Recurrence.DAILY or not draw.is_performed:
        return None
    # Never in the past (draw_create refuses it): after a scheduler outage the next
    # occurrence is the next one still to come, not a missed one performed at once.
    after = max(draw.scheduled_at or draw.performed_at, timezone.now())
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
            return draw_create(event=draw.event, prizes=prizes, actor=None, source="scheduler",
                               previous=draw, scheduled_at=scheduled_at,
                               entries_close_at=close_at, **fields)
    except IntegrityError:  # another scheduler made it first
        return None
