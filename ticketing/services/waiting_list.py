"""Waiting lists of sold-out events: join, leave, your place; offers of returned seats.

- A buyer joins an event's list (optionally for one section, for 1..max_seats_per_order
  seats) only while the event is on sale and has no such free seats: one live place per
  mailbox (core/emails.py email_mailbox), kept in join order.
- A seat that comes back on sale while someone waits (a refund, a released or expired
  hold, staff unblocking it in the layout) is written to WaitingListSeat in the same
  transaction (ticketing/services/seat_changes.py). waiting_list_offers_make (the
  scheduler, every second, and at once after the commit that returned it) offers it:
  the first waiting entry, in join order, whose section and number of seats the
  returned seats fit gets them held for it (an ordinary SeatHold, through the seat-lock
  backend) for the list's offer_seconds, and is told (user stream, email, SMS to a
  verified phone). An entry they do not fit keeps its place for the next seats.
- An offer whose hold is bought counts as converted; one that expires or is released
  unbought is closed (expired) and its seats come back, to the next in line.

Exactly once, in order: an event's offers are made under its WaitingList row lock
(SKIP LOCKED: another scheduler passes the event by), each returned seat row is done
in the transaction that offers it, and entries are served by id. Sale rules
(docs/decisions/2026-11-30-waiting-list.md): an offer's hold needs no admission pass
(the list is a line of its own) and lasts the offer's time, not the hold window; the
per-account cap on held seats applies (an entry at its cap is passed over this time).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext

from core import audit
from core.errors import NotFound
from core.failpoints import failpoint
from core.models import Event, User
from ticketing import selectors
from ticketing.errors import (
    HoldLimitReached,
    NotOnWaitingList,
    SeatsNotForSale,
    SeatsUnavailable,
    TooManySeats,
    UnknownSeats,
    WaitingListEmailNotVerified,
    WaitingListMailboxTaken,
    WaitingListSeatsAvailable,
)
from ticketing.models import (
    SeatHold,
    Ticket,
    WaitingList,
    WaitingListEntry,
    WaitingListSeat,
)
from ticketing.seat_locks import seat_lock_backend
from ticketing.services.holds import (
    _sale_of,
    claim_transaction,
    hold_offer_claim,
    release_locked_hold,
    sale_refusal,
)
from ticketing.services.waiting_room import queue_pass_check
from ticketing.streams import publish_waiting_entry

logger = logging.getLogger(__name__)

Status = WaitingListEntry.Status
# Entries one run looks at per event: the first this many in line.
SCAN_LIMIT = 500


# --- the buyer's place --------------------------------------------------------------


def _free_seats(event: Event, section_id: int | None) -> int:
    rows = selectors.best_available_rows(event, section_id=section_id)
    return sum(1 for row in rows for seat in row.seats if seat.free)


def waiting_list_join(*, event: Event, user: User, section_id: int | None = None,
                      seats: int = 1, queue_pass: str | None = None
                      ) -> tuple[WaitingListEntry, bool]:
    """Take a place on the event's list (or keep yours). -> (entry, created).

    Raises SaleClosed / EventHasNoVenue (409), TooManySeats (400: more than
    max_seats_per_order or TICKETING_MAX_HELD_SEATS_PER_USER), section_not_found (404),
    WaitingListSeatsAvailable (409: that many seats are free now: hold them),
    WaitingListMailboxTaken (409: another account of this mailbox waits),
    WaitingListEmailNotVerified (403: the account's email is not confirmed), QueueRequired
    (403: the event's waiting room is on and `queue_pass` is not this user's valid
    admission pass; it is checked, not used). Joining again with the same account keeps
    the place (and its section and seats).

    The pass: while the room is on, nearly every seat is held by admitted buyers, so the
    event looks sold out; without it anyone could join here, skip the room's line and
    be offered every hold that expires before the buyers admitted in order.
    """
    sale = _sale_of(event)
    limit = min(sale.max_seats_per_order, settings.TICKETING_MAX_HELD_SEATS_PER_USER)
    if not 1 <= seats <= limit:
        raise TooManySeats(gettext("Wait for 1 to %(limit)d seats.") % {"limit": limit})
    if section_id is not None and not event.venue.sections.filter(pk=section_id).exists():
        raise NotFound(gettext("No such section at this venue."), code="section_not_found")
    mine = _live_entry(event_id=event.pk, user=user)
    if mine is not None:
        return mine, False
    queue_pass_check(event=event, user=user, queue_pass=queue_pass)
    if _free_seats(event, section_id) >= seats:
        raise WaitingListSeatsAvailable()
    if user.email_verified_at is None:
        # Else anyone could register a stranger's address (+tag, dots) unconfirmed and
        # take the mailbox's one place: its owner would be locked out of the list.
        raise WaitingListEmailNotVerified()
    WaitingList.objects.get_or_create(event=event,
                                      defaults={"offer_seconds": default_offer_seconds()})
    try:
        with transaction.atomic():
            entry = WaitingListEntry.objects.create(
                event=event, user=user, mailbox=user.email_mailbox, section_id=section_id,
                seats=seats)
    except IntegrityError:
        mine = _live_entry(event_id=event.pk, user=user)
        if mine is not None:  # a parallel join of the same account
            return mine, False
        raise WaitingListMailboxTaken() from None
    publish_waiting_entry(entry)
    return entry, True


def default_offer_seconds() -> int:
    return settings.TICKETING_WAITLIST_OFFER_SECONDS


def _live_entry(*, event_id: int, user: User) -> WaitingListEntry | None:
    return (WaitingListEntry.objects.filter(event_id=event_id, user=user,
                                            status__in=WaitingListEntry.LIVE)
            .select_related("hold").first())


def waiting_list_position(entry: WaitingListEntry) -> int | None:
    """1 for the first in line; None once the entry is not waiting."""
    if entry.status != Status.WAITING:
        return None
    return WaitingListEntry.objects.filter(event_id=entry.event_id, status=Status.WAITING,
                                           id__lt=entry.pk).count() + 1


def waiting_list_entry_of(*, event_id: int, user: User) -> WaitingListEntry:
    """The user's live entry; NotOnWaitingList (404) otherwise."""
    entry = _live_entry(event_id=event_id, user=user)
    if entry is None:
        raise NotOnWaitingList()
    return entry


def waiting_list_leave(*, event_id: int, user: User) -> WaitingListEntry:
    """Give up your place; an offer you hold is released (its seats go to the next in
    line). Raises NotOnWaitingList (404). Locks the entry, then its hold."""
    with transaction.atomic():
        entry = (WaitingListEntry.objects.select_for_update()
                 .filter(event_id=event_id, user=user, status__in=WaitingListEntry.LIVE).first())
        if entry is None:
            raise NotOnWaitingList()
        status = Status.LEFT
        if entry.status == Status.OFFERED and entry.hold_id is not None:
            hold = SeatHold.objects.select_for_update().get(pk=entry.hold_id)
            if hold.status == SeatHold.Status.ACTIVE:
                release_locked_hold(hold=hold, user=user)
            elif hold.status == SeatHold.Status.PURCHASED:
                # Bought before the next run closed the offer (or while this waited for
                # the hold's lock): a conversion, as the staff's figures count it.
                status = Status.CONVERTED
        entry.status = status
        entry.closed_at = timezone.now()
        entry.save(update_fields=["status", "closed_at"])
        publish_waiting_entry(entry)
    return entry


# --- returned seats and offers ----------------------------------------------------------


def waiting_list_seats_returned(*, event_id: int, seat_ids: list[int], reason: str) -> None:
    """Seats of `event_id` are free again (in the caller's transaction): when someone
    waits for the event, note them for an offer (made after the commit, and by the
    scheduler). One query when nobody waits."""
    if not WaitingListEntry.objects.filter(event_id=event_id, status=Status.WAITING).exists():
        return
    WaitingListSeat.objects.bulk_create(
        WaitingListSeat(event_id=event_id, seat_id=seat_id, reason=reason) for seat_id in seat_ids)
    transaction.on_commit(lambda: _offers_make_after_commit(event_id), robust=True)


def _offers_make_after_commit(event_id: int) -> None:
    # The scheduler would make the offer within a second; now, the seat is not on
    # general sale that long. Never fails the request whose commit called it.
    try:
        event_offers_make(event_id)
    except Exception:
        logger.exception("waiting list offers for event %s: left to the scheduler", event_id)


def waiting_list_seats_unblocked(*, venue_id: int, seat_ids: list[int]) -> None:
    """Staff unblocked seats of a venue (layout change): returned seats of every event there
    still to come that has a waiting list."""
    if not seat_ids:
        return
    event_ids = (WaitingList.objects.filter(event__venue_id=venue_id,
                                            event__starts_at__gt=timezone.now())
                 .values_list("event_id", flat=True))
    for event_id in event_ids:
        waiting_list_seats_returned(event_id=event_id, seat_ids=seat_ids, reason="unblocked")


def waiting_list_offers_make() -> int:
    """The scheduler's job: close finished offers and make new ones, event by event.

    Safe with several schedulers (each event under its list's row lock, SKIP LOCKED).
    -> the number of offers made.
    """
    now = timezone.now()
    events = set(WaitingListSeat.objects.filter(done_at__isnull=True)
                 .order_by().values_list("event_id", flat=True).distinct())
    events |= set(WaitingListEntry.objects.filter(status=Status.OFFERED).filter(
        Q(offer_expires_at__lte=now) | Q(hold__isnull=True)
        | ~Q(hold__status=SeatHold.Status.ACTIVE)).values_list("event_id", flat=True))
    return sum(event_offers_make(event_id) for event_id in sorted(events))


@dataclass
class _Returned:
    row: WaitingListSeat
    section_id: int


def event_offers_make(event_id: int) -> int:
    """One event's run (see the module's docstring); -> offers made. Runs its own
    transaction (claim_transaction): never inside another."""
    backend = seat_lock_backend()
    offers: list[WaitingListEntry] = []
    with claim_transaction(backend) as claim_seats:
        waiting_list = (WaitingList.objects.select_for_update(skip_locked=True, of=("self",))
                        .select_related("event__sale", "event__venue")
                        .filter(event_id=event_id).first())
        if waiting_list is None:
            return 0  # no list, or another scheduler is at it
        now = timezone.now()
        _offers_close(event_id, now)
        pending = [_Returned(row, row.seat.row.section_id) for row in
                   WaitingListSeat.objects.filter(event_id=event_id, done_at__isnull=True)
                   .select_related("seat__row").order_by("id")]
        if not pending:
            return 0
        event = waiting_list.event
        entries = []
        if sale_refusal(event, now=now) is None:
            # A deactivated account (staff, or erased) cannot sign in to buy: an offer
            # would hold the seats away from everyone for the offer's time.
            entries = list(WaitingListEntry.objects.filter(event_id=event_id,
                                                           status=Status.WAITING,
                                                           user__is_active=True)
                           .select_related("user").order_by("id")[:SCAN_LIMIT])
        pending = _still_free(event, pending, now=now)
        expires_at = now + timedelta(seconds=waiting_list.offer_seconds)
        for entry in entries:
            if not pending:
                break
            fits = [p for p in pending if entry.section_id in (None, p.section_id)]
            if len(fits) < entry.seats:
                continue
            chosen = fits[:entry.seats]
            failpoint("waiting_list.offer.entry", entry=entry)
            # The entries were read unlocked: one that left (or was offered) since must
            # not be overwritten by the save below (a leaver offered seats, or two live
            # places of one mailbox). Locked now, it cannot leave until this commits.
            if not (WaitingListEntry.objects.select_for_update()
                    .filter(pk=entry.pk, status=Status.WAITING).only("pk").first()):
                continue
            try:
                hold = hold_offer_claim(claim_seats=claim_seats, event=event, user=entry.user,
                                        seat_ids=[p.row.seat_id for p in chosen],
                                        expires_at=expires_at)
            except HoldLimitReached:
                continue  # this one already holds all they may: the next in line
            except (SeatsUnavailable, SeatsNotForSale, UnknownSeats) as exc:
                # Taken by the general sale (or blocked) meanwhile: not offered.
                lost = set(exc.extra.get("seats", []))
                _done([p for p in pending if p.row.seat_id in lost], now=now)
                pending = [p for p in pending if p.row.seat_id not in lost]
                continue
            entry.status, entry.hold = Status.OFFERED, hold
            entry.offered_at, entry.offer_expires_at = now, expires_at
            entry.save(update_fields=["status", "hold", "offered_at", "offer_expires_at"])
            _done(chosen, now=now, entry=entry)
            pending = [p for p in pending if p not in chosen]
            offers.append(entry)
        if not entries:
            _done(pending, now=now)  # nobody waits (or the sale closed): general sale
        for entry in offers:
            publish_waiting_entry(entry)
            transaction.on_commit(lambda entry=entry: _offer_notify(entry), robust=True)
    return len(offers)


def _done(returned: list[_Returned], *, now, entry: WaitingListEntry | None = None) -> None:
    if returned:
        WaitingListSeat.objects.filter(pk__in=[p.row.pk for p in returned]).update(
            done_at=now, entry=entry)


def _still_free(event: Event, pending: list[_Returned], *, now) -> list[_Returned]:
    """The returned seats still free now, once each; the others are done (the general
    sale took them meanwhile)."""
    seat_ids = [p.row.seat_id for p in pending]
    sold = set(Ticket.objects.filter(event_id=event.pk, seat_id__in=seat_ids,
                                     status=Ticket.Status.VALID).values_list("seat_id", flat=True))
    taken = sold | seat_lock_backend().held_seat_ids(event.pk, seat_ids)
    free, seen, gone = [], set(), []
    for p in pending:
        if p.row.seat_id in taken or p.row.seat_id in seen:
            gone.append(p)
        else:
            seen.add(p.row.seat_id)
            free.append(p)
    _done(gone, now=now)
    return free


def _offers_close(event_id: int, now) -> None:
    """Offers bought (converted) or not bought in time (expired, passed on). The
    expired hold's seats come back through the hold sweep, to the next in line.

    An offer is closed by its hold's committed status only: a hold still active past its
    expiry may be in a purchase that locked it in time (the sweep skips it), and calling
    that offer expired would tell a buyer who bought that they did not; its sweep (or
    the purchase) decides, a second later."""
    offered = list(WaitingListEntry.objects.select_for_update(of=("self",))
                   .filter(event_id=event_id, status=Status.OFFERED).select_related("hold"))
    for entry in offered:
        hold = entry.hold
        if hold is not None and hold.status == SeatHold.Status.PURCHASED:
            entry.status = Status.CONVERTED
        elif hold is None or hold.status != SeatHold.Status.ACTIVE:
            entry.status = Status.EXPIRED
        else:
            continue
        entry.closed_at = now
        entry.save(update_fields=["status", "closed_at"])
        publish_waiting_entry(entry)


def _offer_notify(entry: WaitingListEntry) -> None:
    """Email, and SMS to a verified phone: after the offer's commit; a failing channel
    is logged (the stream and the other channel still told them)."""
    from django.core.mail import send_mail

    from core.links import absolute_url
    from core.local_time import api_iso
    from core.sms import send_sms

    user, event = entry.user, entry.event
    text = gettext("Seats for %(event)s are held for you until %(until)s: buy them at "
                   "%(link)s") % {"event": event.title, "until": api_iso(entry.offer_expires_at),
                                  "link": absolute_url(f"/app/#/events/{event.pk}")}
    try:
        send_mail(subject=gettext("Your waiting list offer for %(event)s") % {
            "event": event.title}, message=text, from_email=None, recipient_list=[user.email])
    except Exception:
        logger.exception("waiting list offer email to user %s failed", user.pk)
    if user.is_phone_verified:
        try:
            send_sms(to=user.phone, text=text)
        except Exception:
            logger.exception("waiting list offer SMS to user %s failed", user.pk)


# --- staff -----------------------------------------------------------------------------


def waiting_list_figures(event_id: int) -> dict[str, int]:
    """Size (waiting), offers out, conversions, expired offers and leavers: one query."""
    counts = WaitingListEntry.objects.filter(event_id=event_id).aggregate(
        **{status: Count("id", filter=Q(status=status)) for status in Status.values})
    return {"waiting": counts["waiting"], "offers_out": counts["offered"],
            "converted": counts["converted"], "expired": counts["expired"],
            "left": counts["left"]}


def waiting_list_configure(*, event: Event, offer_seconds: int, actor: User | None,
                           source: str = "api") -> WaitingList:
    """Set the list's offer time (creating the list); audited."""
    with transaction.atomic():
        waiting_list, _ = WaitingList.objects.select_for_update().get_or_create(
            event=event, defaults={"offer_seconds": offer_seconds})
        waiting_list.offer_seconds = offer_seconds
        waiting_list.save(update_fields=["offer_seconds"])
        audit.record(action="waiting_list.configure", obj=waiting_list, actor=actor,
                     data={"offer_seconds": offer_seconds, "source": source})
    return waiting_list
