"""Performing a draw: winner picking (raffle, lottery, external), the announcement,
and redraws of prizes unclaimed after their window.

Both services lock the draw row, so a draw is performed once and a redraw never runs
beside a perform. Winners follow the draw's fairness picks (live/fairness.py).
"""

from __future__ import annotations

import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from time import perf_counter
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Case, IntegerField, Value, When
from django.db.models.functions import Concat
from django.utils import timezone

from core import audit, metrics
from core.failpoints import failpoint
from core.models import User
from live import fairness
from live.beacon import Beacon, BeaconUnavailable, Chain
from live.beacon import fetch as fetch_beacon
from live.beacon_config import beacon_relays, fallback_allowed_at
from live.draw_messages import (
    draw_awaiting_beacon_data,
    draw_finished_data,
    draw_forfeited_data,
    draw_started_data,
    draw_winner_data,
)
from live.errors import (
    AlreadyPerformed,
    BeaconFallbackNotAllowed,
    ClaimWindowOpen,
    InvalidExternalWinners,
    NothingToRedraw,
    NotPerformed,
    RedrawNotSupported,
)
from live.models import Draw, Entry, Prize, Winner
from live.selectors import entries_at
from live.services.draws import close_locked
from live.services.webhooks import emit_draw_webhook
from live.streams import publish_draw


def _winner(draw: Draw, prize: Prize, entry_id: int | None, user_id: int, now: datetime,
            **extra: Any) -> Winner:
    return Winner(draw=draw, prize=prize, entry_id=entry_id, user_id=user_id, created_at=now,
                  claim_deadline=now + timedelta(minutes=draw.claim_window_minutes), **extra)


def _store_beacon(draw: Draw, beacon: Beacon | None, fallback: dict | None) -> None:
    """The verified round (or the staff fallback) on the locked draw; saved with it."""
    if beacon is not None:
        draw.beacon_randomness = beacon.randomness
        draw.beacon_signature = beacon.signature
        draw.beacon_previous_signature = beacon.previous_signature
    draw.beacon_fallback = fallback


def _pick_winners(draw: Draw, slots: list[Prize], start: int, round_: int, now: datetime
                  ) -> list[Winner]:
    """Winners for `slots` (one prize per slot) from fairness picks start.. of the draw."""
    indices = fairness.pick_indices(draw.seed, draw.entries_digest, draw.entries_count,
                                    start + len(slots), draw.beacon_randomness)[start:]
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
        index = fairness.pick_indices(draw.seed, draw.entries_digest, draw.entries_count, 1,
                                      draw.beacon_randomness)[0]
        numbers = entries_at(draw, [index])[index][2]
        # Ties (same numbers) go to the earliest ballot.
        earliest = Entry.objects.filter(draw=draw, numbers=numbers).order_by("position").first()
        draw.winning_numbers = [int(n) for n in numbers.split(",")]
        return [_winner(draw, prizes[0], earliest.pk, earliest.user_id, now, pick=0)]
    drawn = fairness.winning_numbers(draw.seed, draw.entries_digest, draw.numbers_count,
                                     draw.numbers_max, draw.beacon_randomness)
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


def _announce(draw: Draw, winners: list[Winner]) -> None:
    """Publish draw.winner per prize after commit, and queue the draw.winner webhook
    for each in the caller's transaction (a rolled-back draw sends nothing)."""
    by_prize: dict[int, list[Winner]] = defaultdict(list)
    for winner in winners:
        by_prize[winner.prize_id].append(winner)
    for prize_winners in by_prize.values():
        prize = prize_winners[0].prize
        publish_draw(draw, "draw.winner",
                     draw_winner_data(draw, prize=prize, winners=prize_winners))
        emit_draw_webhook(draw, "draw.winner", {
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


def draw_perform(*, draw: Draw, actor: User | None, source: str,
                 external_winners: Any = None, beacon_fallback: str | None = None) -> Draw:
    """Close entries (if open), draw and store the winners, reveal the seed.

    `actor` is the user who performs it (None for the scheduler); `source` says
    through what ("api", "admin", "import", "scheduler:<host>:<pid>").
    performed_by and the audit entry's "actor" hold core.audit.actor_label of both.

    A tombola-beacon-v2 draw first closes (which fixes its round for good: one published
    after the close) and then needs that round from the relays (live/beacon.py; fetched
    and BLS-verified outside the draw's transaction unless the caller holds one; the
    scheduler calls it outside any, live/scheduler.py). While the round is not published or
    no relay serves a valid one, the draw is left in ``awaiting_beacon``
    (draw.awaiting_beacon published, audit-free) and returned so; the scheduler retries it.
    `beacon_fallback` (a reason) performs a draw awaiting its round
    BEACON_FALLBACK_AFTER_SECONDS after the round was due
    (beacon_config.fallback_allowed_at), with the v1 stream, and the proof says so;
    earlier or on a draw not waiting it raises BeaconFallbackNotAllowed (409), before
    closing anything.

    Locks the draw row; a second call raises AlreadyPerformed (409) and changes
    nothing. Raffles pick min(entries, prize units) distinct entries; lotteries draw
    winning numbers (tiers) or one ballot; external draws store `external_winners`
    ([{prize_id, user_id}], InvalidExternalWinners 400). Never loads all entries:
    the digest is computed in SQL or in chunks, winners are fetched by position.
    Publishes draw.closing (if it closes now), draw.started, draw.winner per prize,
    draw.finished. Queues the draw.performed webhook and one draw.winner per prize with
    winners, and writes the draw.performed audit entry, all in this transaction.
    """
    if draw.algorithm != fairness.ALGORITHM_BEACON or draw.kind == Draw.Kind.EXTERNAL:
        if beacon_fallback is not None:  # nothing to fall back from
            raise BeaconFallbackNotAllowed()
        return _perform(draw=draw, actor=actor, source=source,
                        external_winners=external_winners)
    closed = _close_for_beacon(draw, fallback=beacon_fallback is not None)
    if beacon_fallback is not None:
        return _perform(draw=closed, actor=actor, source=source,
                        fallback=_fallback_record(closed, actor, source, beacon_fallback))
    chain = Chain.from_dict(closed.beacon_chain)
    try:
        beacon = fetch_beacon(chain, closed.beacon_round, relays=beacon_relays(),
                              timeout=settings.BEACON_TIMEOUT_SECONDS, now=time.time())
    except BeaconUnavailable as exc:
        return _await_beacon(closed, exc)
    return _perform(draw=closed, actor=actor, source=source, beacon=beacon)


@transaction.atomic
def _close_for_beacon(draw: Draw, *, fallback: bool) -> Draw:
    locked = Draw.objects.select_for_update().get(pk=draw.pk)
    if locked.is_performed:
        raise AlreadyPerformed()
    if fallback and locked.status != Draw.Status.AWAITING_BEACON:
        raise BeaconFallbackNotAllowed()  # refused before closing: a 409 changes nothing
    if locked.status == Draw.Status.OPEN:
        close_locked(locked)
    return locked


def _fallback_record(draw: Draw, actor: User | None, source: str, reason: str) -> dict:
    now = timezone.now()
    allowed_at = fallback_allowed_at(draw)
    if draw.status != Draw.Status.AWAITING_BEACON or allowed_at is None or now < allowed_at:
        raise BeaconFallbackNotAllowed()
    waited = (now - draw.beacon_waiting_since).total_seconds()
    return {"at": now.isoformat(), "by": audit.actor_label(actor, source),
            "reason": reason[:500], "waited_seconds": round(waited),
            "last_error": draw.beacon_last_error}


@transaction.atomic
def _await_beacon(draw: Draw, exc: BeaconUnavailable) -> Draw:
    """Leave the draw waiting for its round (visible on its stream and in the API)."""
    locked = Draw.objects.select_for_update().get(pk=draw.pk)
    if locked.is_performed:
        return locked
    now = timezone.now()
    locked.status = Draw.Status.AWAITING_BEACON
    locked.beacon_waiting_since = locked.beacon_waiting_since or now
    locked.beacon_attempted_at = now
    if exc.not_yet:
        # Nobody was asked: the round's time has not come. The scheduler's next try is
        # when it does (attempted_at + BEACON_RETRY_SECONDS), not every few seconds with a
        # draw.awaiting_beacon each time for a draw performed by hand hours early.
        due = Chain.from_dict(locked.beacon_chain).round_time(locked.beacon_round)
        locked.beacon_attempted_at = max(now, datetime.fromtimestamp(due, UTC) - timedelta(
            seconds=settings.BEACON_RETRY_SECONDS))
    locked.beacon_attempts += 1
    locked.beacon_last_error = str(exc)[:500]
    locked.save(update_fields=["status", "beacon_waiting_since", "beacon_attempted_at",
                               "beacon_attempts", "beacon_last_error", "updated_at"])
    publish_draw(locked, "draw.awaiting_beacon", draw_awaiting_beacon_data(locked))
    return locked


@transaction.atomic
def _perform(*, draw: Draw, actor: User | None, source: str, external_winners: Any = None,
             beacon: Beacon | None = None, fallback: dict | None = None) -> Draw:
    started = perf_counter()
    locked = Draw.objects.select_for_update().get(pk=draw.pk)
    if locked.is_performed:
        raise AlreadyPerformed()
    if (locked.algorithm == fairness.ALGORITHM_BEACON and locked.kind != Draw.Kind.EXTERNAL
            and beacon is None and fallback is None):
        raise RuntimeError("a beacon draw is never performed without its round or a fallback")
    prizes = list(locked.prizes.order_by("rank", "id"))
    now = timezone.now()
    if locked.kind == Draw.Kind.EXTERNAL:
        winners = _external_winners(locked, prizes, external_winners, now)
    if locked.status == Draw.Status.OPEN:
        close_locked(locked)
    if beacon is not None or fallback is not None:
        _store_beacon(locked, beacon, fallback)
    publish_draw(locked, "draw.started", draw_started_data(locked))
    if locked.kind == Draw.Kind.RAFFLE:
        slots = [p for p in prizes for _ in range(p.quantity)]
        winners = _pick_winners(locked, slots, 0, 0, now)
    elif locked.kind == Draw.Kind.LOTTERY:
        winners = _lottery_winners(locked, prizes, now)
    winners = _store_winners(winners)
    locked.status = Draw.Status.PERFORMED
    locked.performed_at = now
    label = audit.actor_label(actor, source)
    locked.performed_by = label[:120]
    locked.save(update_fields=["status", "performed_at", "performed_by", "winning_numbers",
                               "beacon_randomness", "beacon_signature",
                               "beacon_previous_signature", "beacon_fallback", "updated_at"])
    _announce(locked, winners)
    summary = {"draw_id": locked.pk, "kind": locked.kind, "performed_at": locked.performed_at,
               "entries_count": locked.entries_count, "winners_count": len(winners),
               "winning_numbers": locked.winning_numbers}
    emit_draw_webhook(locked, "draw.performed", summary)
    audit.record(action="draw.performed", obj=locked, actor=actor,
                 data={**summary, "actor": label, "seed": locked.seed,
                       "entries_digest": locked.entries_digest,
                       "algorithm": locked.algorithm, "beacon_round": locked.beacon_round,
                       "beacon_randomness": locked.beacon_randomness,
                       "beacon_fallback": locked.beacon_fallback})
    # Fault tests stall a scheduler here and kill it: everything above is rolled back.
    failpoint("draw.perform.before_commit")
    publish_draw(locked, "draw.finished", draw_finished_data(locked))
    metrics.DRAW_DURATION.labels(locked.kind).observe(perf_counter() - started)
    return locked


@transaction.atomic
def draw_redraw(*, draw: Draw, actor: User | None, source: str) -> list[Winner]:
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
    publish_draw(locked, "draw.forfeited",
                 draw_forfeited_data(locked, winners=expired, forfeited_at=now))
    picked = Winner.objects.filter(draw=locked, pick__isnull=False).count()
    round_ = max(w.round for w in Winner.objects.filter(draw=locked)) + 1
    replacements = _store_winners(
        _pick_winners(locked, [w.prize for w in expired], picked, round_, now))
    _announce(locked, replacements)
    audit.record(action="draw.redrawn", obj=locked, actor=actor, data={
        "actor": audit.actor_label(actor, source), "round": round_,
        "forfeited": [w.pk for w in expired],
        "replacements": [{"winner_id": w.pk, "user_id": w.user_id, "prize_id": w.prize_id}
                         for w in replacements]})
    return replacements
