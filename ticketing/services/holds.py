"""Seat holds: create (explicit seats or best available), extend, release, expire.

Contract (both backends, see ticketing/seat_locks.py):
- A hold is all-or-nothing over 1..max_seats_per_order seats of one event.
- Seats are checked against the database (exist at the venue, priced, not
  blocked, not sold) and claimed by the backend in one atomic step.
- Every change writes SeatStatusChange rows and publishes one message per hold
  on ``seats:<event_id>`` after commit (seat.held / seat.released / seat.expired).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext

from core.errors import NotFound
from core.failpoints import failpoint
from core.models import Event, User
from ticketing import selectors
from ticketing.best_available import pick_best_available
from ticketing.errors import (
    EventHasNoVenue,
    HoldExpired,
    HoldLifetimeExceeded,
    HoldLimitReached,
    HoldLost,
    HoldNotFound,
    NotEnoughAdjacentSeats,
    SaleClosed,
    SeatsNotForSale,
    SeatsUnavailable,
    TooManySeats,
    UnknownSeats,
)
from ticketing.models import EventSale, SeatHold, new_hold_token
from ticketing.seat_locks import (
    Claim,
    SeatLockBackend,
    seat_lock_backend,
    seat_lock_transaction,
)
from ticketing.services.seat_changes import seat_changes_record
from ticketing.services.waiting_room import queue_pass_check, queue_pass_use

BEST_AVAILABLE_ATTEMPTS = 3


# The statuses in which an event sells seats (re-checked under a share lock at purchase).
ON_SALE_STATUSES = (Event.Status.PUBLISHED, Event.Status.LIVE)


def event_not_on_sale() -> SaleClosed:
    return SaleClosed("This event is not open for sale.")


def sale_refusal(event: Event, *, now: datetime | None = None) -> SaleClosed | None:
    """Why seats of `event` cannot be held, extended or bought now; None while on sale.

    Reads `event.sale` (load it with the event: select_related("sale")). The sale is
    open between sale_starts_at (None: from its creation) and sale_ends_at, and never
    once the event started; the event must be published or live (not a draft again,
    not ended or cancelled).
    """
    now = now or timezone.now()
    if event.status not in ON_SALE_STATUSES:
        return event_not_on_sale()
    try:
        sale = event.sale
    except EventSale.DoesNotExist:
        return SaleClosed("Seats for this event are not on sale.")
    if sale.sale_starts_at and now < sale.sale_starts_at:
        return SaleClosed("The sale has not started yet.")
    if now >= event.starts_at:
        return SaleClosed("The event has started; the sale is over.")
    if sale.sale_ends_at and now >= sale.sale_ends_at:
        return SaleClosed("The sale has ended.")
    return None


def _sale_of(event: Event) -> EventSale:
    if event.venue_id is None:
        raise EventHasNoVenue()
    refusal = sale_refusal(event)  # the views fetch the sale with the event
    if refusal is not None:
        raise refusal
    return event.sale


def _check_seats(event: Event, seat_ids: list[int]) -> list[selectors.HoldSeatRow]:
    """Every seat exists at the venue, is priced, not blocked and not sold (one query).
    -> the seats, priced at today's prices."""
    rows = selectors.seats_to_hold(event_id=event.id, venue_id=event.venue_id, seat_ids=seat_ids)
    found = {r.id for r in rows}
    unknown = [s for s in seat_ids if s not in found]
    if unknown:
        raise UnknownSeats(unknown)
    not_for_sale = [r.id for r in rows if r.blocked or r.price is None]
    if not_for_sale:
        raise SeatsNotForSale(not_for_sale)
    sold = [r.id for r in rows if r.sold]
    if sold:
        raise SeatsUnavailable(sorted(sold))
    return rows


def _lock_user_event(user_id: int, event_id: int) -> None:
    """Serialise one user's hold claims for one event until the transaction ends.

    PostgreSQL: a transaction-level advisory lock on a key made from the pair (its wait is
    capped by seat_lock_transaction's lock_timeout: 503 busy). SQLite needs none: the
    embedded configuration opens every transaction with BEGIN IMMEDIATE, one writer at
    a time.
    """
    if connection.vendor != "postgresql":
        return
    digest = hashlib.blake2b(f"tombola:holds:{user_id}:{event_id}".encode(), digest_size=8)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)",
                       [int.from_bytes(digest.digest(), "big", signed=True)])


def _user_window(*, event: Event, user: User, count: int, now: datetime) -> datetime:
    """Check the per-user seat cap; -> the start of the user's hold window for the event.

    Locks the (user, event) pair first, so two parallel claims of one user count each
    other's seats. One query reads the user's holds of the event that are live or ended
    less than TICKETING_HOLD_COOLDOWN_SECONDS ago (a released hold counts until its
    planned expiry): their live seats count against TICKETING_MAX_HELD_SEATS_PER_USER,
    and the earliest window among them continues (else a new window starts now).
    Raises HoldLimitReached (409).
    """
    _lock_user_event(user.pk, event.pk)
    cooldown = timedelta(seconds=settings.TICKETING_HOLD_COOLDOWN_SECONDS)
    recent = SeatHold.objects.filter(
        user=user, event=event, expires_at__gt=now - cooldown,
        status__in=[SeatHold.Status.ACTIVE, SeatHold.Status.RELEASED, SeatHold.Status.EXPIRED],
    ).values_list("status", "seat_ids", "expires_at", "window_started_at", "created_at")
    held, window = 0, now
    for status, seat_ids, expires_at, window_started_at, created_at in recent:
        if status == SeatHold.Status.ACTIVE and expires_at > now:
            held += len(seat_ids)
        window = min(window, window_started_at or created_at, created_at)
    limit = settings.TICKETING_MAX_HELD_SEATS_PER_USER
    if held + count > limit:
        raise HoldLimitReached(held=held, limit=limit)
    return window


def hold_create(*, event: Event, user: User, seat_ids: list[int],
                queue_pass: str | None = None) -> SeatHold:
    """Hold exactly these seats for `user`, or nothing.

    Raises SaleClosed, EventHasNoVenue, TooManySeats, UnknownSeats, SeatsNotForSale,
    SeatsUnavailable (409, lists the seats that are not free), HoldLimitReached (409: the
    user's live holds for the event would pass TICKETING_MAX_HELD_SEATS_PER_USER seats),
    HoldLifetimeExceeded (409: the user's hold window for the event is used up, see
    _user_window), SeatLocksUnavailable (503),
    SeatLocksBusy (503 "busy": a row lock waited past TICKETING_SEAT_LOCK_TIMEOUT_MS),
    QueueRequired (403: the event's waiting room is on and `queue_pass` is not a valid
    admission pass of this user; a valid one is used once the hold is made, not by a
    refused one).
    Runs its own transaction (seat_lock_transaction): never call it inside another.
    Publishes seat.held.
    """
    sale = _sale_of(event)
    number = queue_pass_check(event=event, user=user, queue_pass=queue_pass)
    seat_ids = sorted(set(seat_ids))
    if len(seat_ids) > sale.max_seats_per_order:
        raise TooManySeats(f"At most {sale.max_seats_per_order} seats per order.")
    return _claim(event=event, user=user, seat_ids=seat_ids, check_seats=True,
                  queue_pass_number=number)


def hold_create_best_available(
    *, event: Event, user: User, count: int, section_id: int | None = None,
    queue_pass: str | None = None,
) -> SeatHold:
    """Hold `count` adjacent seats picked by ticketing.best_available.

    Retries a few times when another buyer takes the pick first. Raises what
    hold_create raises, and NotEnoughAdjacentSeats when no row fits.
    """
    sale = _sale_of(event)
    number = queue_pass_check(event=event, user=user, queue_pass=queue_pass)
    if count > sale.max_seats_per_order:
        raise TooManySeats(f"At most {sale.max_seats_per_order} seats per order.")
    if section_id is not None and not event.venue.sections.filter(pk=section_id).exists():
        raise NotFound(gettext("No such section at this venue."), code="section_not_found")
    for attempt in range(BEST_AVAILABLE_ATTEMPTS):
        rows = selectors.best_available_rows(event, section_id=section_id)
        pick = pick_best_available(rows, count)
        if pick is None:
            raise NotEnoughAdjacentSeats()
        try:
            return _claim(event=event, user=user, seat_ids=sorted(pick),
                          queue_pass_number=number)
        except SeatsUnavailable:
            if attempt == BEST_AVAILABLE_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


@contextmanager
def claim_transaction(backend: SeatLockBackend) -> Iterator[Callable[..., Claim]]:
    """seat_lock_transaction whose backend claims are undone unless it commits.

    Yields `claim(event_id=, seat_ids=, token=, expires_at=)` (the backend's). Durable
    (the outermost): what rolls back here is never committed by a caller. Whatever keeps
    it from committing (a refusal inside, or COMMIT itself failing: PostgreSQL checks
    the deferred foreign keys there, under the lock timeout) frees the seats claimed in
    it: Redis would keep them for the TTL.
    """
    claims: list[tuple[int, list[int], str]] = []
    state = {"committed": False}

    def claim(*, event_id: int, seat_ids: list[int], token: str, expires_at: datetime) -> Claim:
        result = backend.claim(event_id=event_id, seat_ids=seat_ids, token=token,
                               expires_at=expires_at)
        if not claims:
            # The first on-commit callback: once it ran, nothing may undo the claims.
            transaction.on_commit(lambda: state.update(committed=True))
        claims.append((event_id, seat_ids, token))
        return result

    try:
        with seat_lock_transaction():
            yield claim
    except BaseException:
        if not state["committed"]:
            for event_id, seat_ids, token in claims:
                backend.undo_claim(event_id=event_id, seat_ids=seat_ids, token=token)
        raise


def _claim(*, event: Event, user: User, seat_ids: list[int], check_seats: bool = False,
           queue_pass_number: int | None = None) -> SeatHold:
    backend = seat_lock_backend()
    now = timezone.now()
    expires_at = now + timedelta(seconds=settings.TICKETING_HOLD_TTL_SECONDS)
    lifetime = timedelta(seconds=settings.TICKETING_HOLD_MAX_LIFETIME_SECONDS)
    token = new_hold_token()
    with claim_transaction(backend) as claim_seats:
        # Redis: losers stop here without touching the database.
        claim = claim_seats(event_id=event.id, seat_ids=seat_ids, token=token,
                            expires_at=expires_at)
        # After the claim, so that under contention a refused buyer costs one
        # script and no query; a bad request only holds its seats for this moment.
        window = _user_window(event=event, user=user, count=len(seat_ids), now=now)
        failpoint("hold.claim.counted", event=event, user=user, seat_ids=seat_ids)
        if window + lifetime <= now:
            raise HoldLifetimeExceeded(
                "You have held seats for this event for the longest time allowed; "
                "hold again later or buy what you hold."
            )
        # The database is the arbiter of sold seats, whatever the backend says;
        # the same query prices the seats (best available picked free, priced seats)
        # and names them for the answer.
        priced = _check_seats(event, seat_ids) if check_seats else _priced_seats(
            event, seat_ids)
        hold = _hold_row(event=event, user=user, token=token, seat_ids=seat_ids, claim=claim,
                         priced=priced,
                         now=now, expires_at=min(expires_at, window + lifetime), window=window)
        # The hold is made: now it uses the admission pass (checked before the claim);
        # a pass that ran out meanwhile refuses it and the claim is undone.
        if queue_pass_number is not None:
            queue_pass_use(event_id=event.id, user=user, number=queue_pass_number)
        backend.attach(hold)
        if hold.expires_at < expires_at:
            # A window nearly used up: the claim's TTL shrinks to the hold's.
            backend.extend(hold, expires_at=hold.expires_at)
        seat_changes_record(
            event_id=event.id, seat_ids=seat_ids, reason="held", user_id=user.pk, hold=hold
        )
    return hold


def _hold_row(*, event: Event, user: User, token: str, seat_ids: list[int], claim: Claim,
              priced: list[selectors.HoldSeatRow], now: datetime, expires_at: datetime,
              window: datetime) -> SeatHold:
    hold = SeatHold.objects.create(
        token=token,
        event=event,
        user=user,
        seat_ids=seat_ids,
        fence=claim.fence,
        created_at=now,
        expires_at=expires_at,
        total=sum(r.price for r in priced),
        window_started_at=window,
    )
    hold.seat_details = [r.line() for r in priced]  # the answer needs no query
    return hold


def hold_offer_claim(*, claim_seats: Callable[..., Claim], event: Event, user: User,
                     seat_ids: list[int], expires_at: datetime) -> SeatHold:
    """Hold `seat_ids` for `user` until `expires_at`: a waiting-list offer.

    Runs inside the caller's claim_transaction (`claim_seats` is its claim), in a
    savepoint of its own: a refusal leaves the caller's transaction usable and the
    backend's claim undone. The sale rules of an ordinary hold apply (seats free,
    priced, not blocked; TICKETING_MAX_HELD_SEATS_PER_USER) except two: no admission
    pass is needed (the waiting list is the line) and the offer's time is its own,
    not the hold window's (TICKETING_HOLD_MAX_LIFETIME_SECONDS), nor can it be extended.
    Raises
    SeatsUnavailable, SeatsNotForSale, UnknownSeats, HoldLimitReached. Publishes seat.held.
    """
    backend = seat_lock_backend()
    now = timezone.now()
    token = new_hold_token()
    seat_ids = sorted(seat_ids)
    claim = claim_seats(event_id=event.id, seat_ids=seat_ids, token=token,
                        expires_at=expires_at)
    try:
        with transaction.atomic():
            _user_window(event=event, user=user, count=len(seat_ids), now=now)
            # The window ends with the offer: extending it answers hold_lifetime_exceeded.
            lifetime = timedelta(seconds=settings.TICKETING_HOLD_MAX_LIFETIME_SECONDS)
            hold = _hold_row(event=event, user=user, token=token, seat_ids=seat_ids,
                             claim=claim, priced=_check_seats(event, seat_ids), now=now,
                             expires_at=expires_at, window=expires_at - lifetime)
            backend.attach(hold)
            seat_changes_record(event_id=event.id, seat_ids=seat_ids, reason="held",
                                user_id=user.pk, hold=hold)
    except BaseException:
        backend.undo_claim(event_id=event.id, seat_ids=seat_ids, token=token)
        raise
    return hold


def _priced_seats(event: Event, seat_ids: list[int]) -> list[selectors.HoldSeatRow]:
    """Best available: the picked seats were free and priced a moment ago; the database
    still decides whether one was sold meanwhile (SeatsUnavailable, so the pick retries)."""
    rows = selectors.seats_to_hold(event_id=event.id, venue_id=event.venue_id, seat_ids=seat_ids)
    sold = [r.id for r in rows if r.sold]
    if sold:
        raise SeatsUnavailable(sorted(sold))
    if len(rows) != len(seat_ids) or any(r.price is None for r in rows):
        raise SeatsUnavailable(sorted(set(seat_ids) - {r.id for r in rows if r.price is not None}))
    return rows


def _locked_live_hold(*, token: str, user: User, with_sale: bool = False) -> SeatHold:
    holds = SeatHold.objects.filter(token=token, user=user)
    if with_sale:
        # The hold's row only is locked; its event and sale come in the same query.
        holds = holds.select_for_update(of=("self",)).select_related("event__sale")
    else:
        holds = holds.select_for_update()
    hold = holds.first()
    if hold is None:
        raise HoldNotFound()
    if hold.status != SeatHold.Status.ACTIVE or hold.expires_at <= timezone.now():
        raise HoldExpired(f"The hold is {_visible_status(hold)}.")
    return hold


def release_locked_hold(*, hold: SeatHold, user: User | None) -> list[int]:
    """Free a live hold's seats now; the caller holds the hold's row lock in its transaction.

    Marks the hold released and publishes seat.released (after commit) for the seats it
    still owned; -> those seats.
    """
    freed = seat_lock_backend().release_hold(hold)
    hold.status = SeatHold.Status.RELEASED
    hold.save(update_fields=["status"])
    seat_changes_record(
        event_id=hold.event_id, seat_ids=freed, reason="released",
        user_id=user.pk if user is not None else None, hold=hold,
    )
    return freed


def _visible_status(hold: SeatHold) -> str:
    if hold.status == SeatHold.Status.ACTIVE and hold.expires_at <= timezone.now():
        return SeatHold.Status.EXPIRED
    return hold.status


def hold_status(hold: SeatHold) -> str:
    """What the owner sees: an active hold past its expiry is expired, swept or not."""
    return _visible_status(hold)


def hold_extend(*, token: str, user: User) -> SeatHold:
    """Give the hold a fresh TTL, capped at its window's start + the maximum lifetime.

    Locks the hold row. Raises HoldNotFound (not yours or unknown), HoldExpired,
    HoldLifetimeExceeded, HoldLost (the backend lost a seat). Publishes nothing when it
    extends: no seat changes status.

    A hold obeys the sale it was made in: once the sale closed (its window ended, the
    event started, went back to draft or was cancelled) the hold is released (its own
    committed transaction, publishing seat.released) and then SaleClosed (409) is raised.
    """
    with transaction.atomic():
        hold = _locked_live_hold(token=token, user=user, with_sale=True)
        closed = sale_refusal(hold.event)
        if closed is None:
            return _extend_locked(hold)
        release_locked_hold(hold=hold, user=user)
    raise closed  # after the block: the release is committed, not rolled back


def _extend_locked(hold: SeatHold) -> SeatHold:
    now = timezone.now()
    cap = hold.window_start + timedelta(seconds=settings.TICKETING_HOLD_MAX_LIFETIME_SECONDS)
    new_expiry = min(now + timedelta(seconds=settings.TICKETING_HOLD_TTL_SECONDS), cap)
    if new_expiry <= hold.expires_at:
        raise HoldLifetimeExceeded()
    lost = seat_lock_backend().extend(hold, expires_at=new_expiry)
    if lost:
        raise HoldLost(lost)
    hold.expires_at = new_expiry
    hold.save(update_fields=["expires_at"])
    return hold


@transaction.atomic
def hold_release(*, token: str, user: User) -> SeatHold:
    """Free the hold's seats now. Locks the hold row; raises HoldNotFound, HoldExpired.

    Publishes seat.released for the seats the hold still owned.
    """
    hold = _locked_live_hold(token=token, user=user)
    release_locked_hold(hold=hold, user=user)
    return hold


def holds_expire(*, limit: int = 500) -> int:
    """Sweep holds past their expiry (the scheduler runs this every second).

    Safe with several schedulers: rows are locked with SKIP LOCKED, so each
    expired hold is swept by exactly one of them. Publishes seat.expired per
    hold, for the seats it still owned (a seat already taken over by a newer
    hold is not announced as free). Returns the number of holds swept.
    """
    backend = seat_lock_backend()
    with transaction.atomic():
        due = list(
            SeatHold.objects.select_for_update(skip_locked=True)
            .filter(status=SeatHold.Status.ACTIVE, expires_at__lte=timezone.now())
            .order_by("expires_at")[:limit]
        )
        for hold in due:
            freed = backend.release_hold(hold)
            seat_changes_record(
                event_id=hold.event_id, seat_ids=freed, reason="expired", user_id=None, hold=hold
            )
        SeatHold.objects.filter(pk__in=[h.pk for h in due]).update(status=SeatHold.Status.EXPIRED)
    return len(due)
