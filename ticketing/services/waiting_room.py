"""The waiting room in front of a sale: staff settings, the buyer's line, admission
passes, and the admission job the scheduler runs (docs/decisions/2026-11-30-waiting-room.md).

Staff (admin, REST) configure, pause, resume and close a room; each change is one
transaction on the WaitingRoom row, audited, and copied to the line's store after
commit (ticketing/queue_line.py). Buyers join, read their place and leave through
the store only: no database row on that path. At the front a buyer is admitted:
the place answer then carries a signed admission pass (bound to the account, the
event and the admission), which hold_create and hold_purchase require while the
room is not closed (``queue_pass_require``). The first hold uses the pass: from
then on it stays good for TICKETING_HOLD_MAX_LIFETIME_SECONDS, the longest a hold
may last, so the buyer can finish. A pass not used within the room's pass_minutes
expires and its place goes to the next buyer in line.

``waiting_rooms_admit`` (a periodic job, every WAITING_ROOM_ADMIT_SECONDS) admits buyers of
every room that is not closed at its rate, steers the adaptive rooms' rates by the
hold and purchase latency the workers report, and publishes the line's progress
on ``queue:<event_id>`` and its figures on ``queue_staff:<event_id>``.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.utils import timezone

from core import audit
from core.emails import mailbox_digest
from core.models import Event, User
from core.periodic import FailureLog
from core.selectors.events import PUBLIC_STATUSES
from ticketing.errors import (
    QueueClosed,
    QueueMailboxTaken,
    QueueNotFound,
    QueueNotOpen,
    QueueRequired,
)
from ticketing.models import (
    WAITING_ROOM_SETTINGS,
    EventSale,
    SeatHold,
    WaitingListEntry,
    WaitingRoom,
)
from ticketing.queue_line import LineConfig, Place, queue_line
from ticketing.queue_messages import iso, pass_deadline_iso, progress_data
from ticketing.streams import (
    notify_queue_turn,
    publish_queue_opened,
    publish_queue_progress,
    publish_queue_room,
    publish_queue_stats,
    room_settings,
)

logger = logging.getLogger(__name__)

PASS_SALT = "tombola.queue-pass"
# Admitted per room per call at most (a rate of 60,000 a minute at one call a second).
MAX_BATCH = 1000
# queue.progress goes to every phone in the line. A short line hears a move within
# PROGRESS_MOVED_SECONDS (admission runs ten times a second; a phone needs no more than
# a frame a second of it, and the stream's history then covers minutes, not seconds)
# and at least every PROGRESS_QUIET_SECONDS; a long one less often, so that
# an event's fan-out stays near PROGRESS_FRAMES_PER_SECOND (each frame is a send on a
# worker and a wake-up on a phone: 20,000 phones at every tick took the two cores the
# admitted buyers needed, bench/waiting_room.py), and at least every
# PROGRESS_MAX_SECONDS. The admitted buyers do not wait for it: queue.turn, a notice
# to their sockets only, tells them at the call that admits them.
PROGRESS_MOVED_SECONDS = 1.0
PROGRESS_QUIET_SECONDS = 2.0
PROGRESS_MAX_SECONDS = 5.0
PROGRESS_FRAMES_PER_SECOND = 4000
# Adaptive rooms: how often the rate is reconsidered, and over which window.
ADAPT_EVERY_SECONDS = 5.0
ADAPT_WINDOW_SECONDS = 10.0
ADAPT_MIN_SAMPLES = 5


def _epoch(moment: datetime) -> float:
    return moment.timestamp()


# --- staff ------------------------------------------------------------------------


def room_of(event: Event) -> WaitingRoom | None:
    """The event's waiting room (load it with select_related("waiting_room")), or None."""
    try:
        return event.waiting_room
    except WaitingRoom.DoesNotExist:
        return None


def sale_start(room: WaitingRoom) -> datetime:
    """When admission starts: the sale's start, or the room's creation if the sale
    has no start (it is open already)."""
    try:
        starts = room.event.sale.sale_starts_at
    except EventSale.DoesNotExist:
        starts = None
    return starts or room.created_at


def line_config(room: WaitingRoom) -> LineConfig:
    sale_at = sale_start(room)
    return LineConfig(
        status=room.status,
        opens_at=_epoch(sale_at - timedelta(minutes=room.opens_minutes_before_sale)),
        sale_at=_epoch(sale_at),
        rate_per_minute=float(room.rate_per_minute),
        pass_seconds=room.pass_minutes * 60,
        use_seconds=settings.TICKETING_HOLD_MAX_LIFETIME_SECONDS,
        secret=room.secret,
        public=room.event.status in PUBLIC_STATUSES,
    )


def waiting_room_sync(room: WaitingRoom, *, keep_rate: bool = False) -> None:
    """Copy the room's settings to the line's store and tell the line's watchers
    (queue.progress) and staff (queue.room: the settings, queue.stats: the figures
    with the store's new status and rate).
    `keep_rate`: an adaptive room keeps the rate it reached (a pause, a resume, the
    sale moved: only a change of the settings restarts it)."""
    line = queue_line()
    config = line_config(room)
    if keep_rate and room.mode == WaitingRoom.Mode.ADAPTIVE:
        current = line.place(room.event_id, None)
        if current.status != "none" and current.rate_per_minute > 0:
            config = replace(config, rate_per_minute=current.rate_per_minute)
    line.configure(room.event_id, config)
    publish_progress(room.event_id)
    publish_queue_room(room.event_id, room_settings(room))
    publish_stats(room.event_id)


def _sync_on_commit(room: WaitingRoom, *, keep_rate: bool = False) -> None:
    # Robust: the row is the truth; a failed copy is logged and retried by the
    # admission job (it re-syncs a room whose store has no configuration).
    transaction.on_commit(lambda: waiting_room_sync(room, keep_rate=keep_rate), robust=True)


def waiting_room_configure(*, event: Event, actor: User | None, source: str = "api",
                           **fields: Any) -> WaitingRoom:
    """Create or change the event's waiting room (fields: WAITING_ROOM_SETTINGS; status with it
    through waiting_room_set_status). A new room is open: passes are required at once."""
    unknown = set(fields) - set(WAITING_ROOM_SETTINGS)
    if unknown:
        raise TypeError(f"unknown waiting room fields: {sorted(unknown)}")
    # The ceiling is raised to the rate before the INSERT, not after it: the row's check
    # constraint (max_rate_per_minute >= rate_per_minute) refuses the INSERT itself.
    ceiling = max(fields.get("max_rate_per_minute",
                             WaitingRoom._meta.get_field("max_rate_per_minute").default),
                  fields.get("rate_per_minute", 1))
    with transaction.atomic():
        room, created = WaitingRoom.objects.select_for_update().get_or_create(
            event=event, defaults={**fields, "max_rate_per_minute": ceiling})
        if not created:
            for name, value in fields.items():
                setattr(room, name, value)
            if room.max_rate_per_minute < room.rate_per_minute:
                room.max_rate_per_minute = room.rate_per_minute
            room.save()
        audit.record(action="waiting_room.configured", obj=room, actor=actor,
                     data={"event": event.pk, "created": created, "source": source,
                           **{name: getattr(room, name) for name in WAITING_ROOM_SETTINGS}})
        _sync_on_commit(room)
    return room


def waiting_room_set_status(*, room: WaitingRoom, status: str, actor: User | None,
                            source: str = "api") -> WaitingRoom:
    """Pause admission, resume it, or close the room (the sale is direct again).
    Closing is not final: staff may open it again, and the line is still there."""
    if status not in WaitingRoom.Status.values:
        raise ValueError(f"unknown waiting room status {status!r}")
    with transaction.atomic():
        room = WaitingRoom.objects.select_for_update().select_related("event").get(pk=room.pk)
        previous = room.status
        if previous != status:
            room.status = status
            room.save(update_fields=["status", "updated_at"])
            audit.record(action=f"waiting_room.{status}", obj=room, actor=actor,
                         data={"event": room.event_id, "from": previous, "source": source})
        _sync_on_commit(room, keep_rate=True)
    return room


def waiting_room_resync_sale(*, event: Event) -> None:
    """The sale's start moved (or the event's status changed: who may see the line):
    the room's opening and admission move with it."""
    room = WaitingRoom.objects.filter(event=event).first()
    if room is not None:
        _sync_on_commit(room, keep_rate=True)


def on_event_saved(sender, instance: Event, created: bool, update_fields=None, **kwargs) -> None:
    """post_save receiver: an event's status decides who may see its line (a draft's
    is staff-only, as the event), and the line's store knows it without a query."""
    if created or (update_fields is not None and "status" not in update_fields):
        return
    waiting_room_resync_sale(event=instance)


# --- the buyer's line ---------------------------------------------------------------


def mailbox_key(user: User) -> str:
    """The account's mailbox as the line knows it: the digest in the access token's
    claims (core.authentication) or, for a user loaded otherwise, from the row."""
    return getattr(user, "mailbox_digest", None) or mailbox_digest(user.email_mailbox)


def _configured(event_id: int, place: Place) -> Place:
    """A line without configuration (Redis flushed, or never synced): look at the
    database once; a room there is copied to the store, else the event has none."""
    if place.status != "none":
        return place
    room = (WaitingRoom.objects.select_related("event__sale")
            .filter(event_id=event_id).first())
    if room is None:
        raise QueueNotFound()
    waiting_room_sync(room)
    return queue_line().place(event_id, None)


def queue_join(*, event_id: int, user: User) -> tuple[str, Place]:
    """Take a place in the event's line (or keep the one you have): one script on the
    line's store. -> (outcome, the place): joined | kept | admitted | in_use."""
    line = queue_line()
    staff = bool(user.is_staff)
    result = line.join(event_id, user.pk, mailbox_key(user), staff=staff)
    if result.outcome == "not_configured":
        _configured(event_id, line.place(event_id, None))
        result = line.join(event_id, user.pk, mailbox_key(user), staff=staff)
    if result.outcome == "hidden":  # a draft event's line: as its event, staff only
        raise QueueNotFound()
    if result.outcome == "closed":
        raise QueueClosed()
    if result.outcome == "not_open":
        raise QueueNotOpen(opens_at=iso(result.opens_at))
    if result.outcome == "mailbox_taken":
        raise QueueMailboxTaken()
    if result.outcome == "not_configured":
        raise QueueNotFound()
    return result.outcome, result.place or line.place(event_id, user.pk)


def queue_place(*, event_id: int, user: User | None) -> Place:
    """The line's state and, for a user, their place in it."""
    user_id = user.pk if user is not None and user.is_authenticated else None
    place = _configured(event_id, queue_line().place(event_id, user_id))
    if not place.public and not (user is not None and user.is_staff):
        raise QueueNotFound()  # a draft event's line: as its event, staff only
    return place


def queue_leave(*, event_id: int, user: User) -> bool:
    """Give up a place (kept until admission reaches it, so nobody's number changes;
    joining again before then takes it back)."""
    return queue_line().leave(event_id, user.pk)


def admission_body(event_id: int, place: Place, *, user: User) -> dict[str, Any] | None:
    """The admission pass, for its owner's REST answer (never in a stream)."""
    if place.state not in ("admitted", "in_use") or place.number is None:
        return None
    return {"token": pass_token(event_id=event_id, user_id=user.pk, number=place.number,
                                deadline=place.pass_deadline),
            "expires_at": pass_deadline_iso(place), "used": place.state == "in_use"}


def pass_token(*, event_id: int, user_id: int, number: int, deadline: float) -> str:
    """The signed admission pass of an admitted buyer (what the Queue-Pass header carries)."""
    return signing.dumps({"e": event_id, "u": user_id, "n": number, "x": round(deadline)},
                         salt=PASS_SALT, compress=False)


# --- admission passes at the sale ------------------------------------------------------


def queue_pass_checked(event: Event) -> bool:
    """Does a hold or purchase for `event` need an admission pass now?"""
    room = room_of(event)
    return room is not None and room.requires_pass


def queue_pass_require(*, event: Event, user: User, queue_pass: str | None,
                       hold: SeatHold | None = None) -> bool:
    """Refuse (403 queue_required) a hold or purchase for `event` without a valid pass
    while its waiting room is not closed; the first hold marks the pass used.
    -> True when a pass was checked (the room is on). A hold made before the room
    existed may be bought without one, and so may a waiting list's offer (the list is
    a line of its own: docs/decisions/2026-11-30-waiting-list.md)."""
    room = room_of(event)
    if room is None or not room.requires_pass:
        return False
    if hold is not None and hold.created_at < room.created_at:
        return False
    if hold is not None and WaitingListEntry.objects.filter(hold_id=hold.pk).exists():
        return False
    queue_pass_use(event_id=event.pk, user=user, number=_pass_number(event, user, queue_pass))
    return True


def _pass_number(event: Event, user: User, queue_pass: str | None) -> int:
    """The pass's number if `queue_pass` is a pass signed for this user and event."""
    if not queue_pass:
        raise QueueRequired(event_id=event.pk, reason="missing")
    try:
        claims = signing.loads(queue_pass, salt=PASS_SALT)
    except signing.BadSignature:
        raise QueueRequired(event_id=event.pk, reason="invalid") from None
    if not isinstance(claims, dict) or claims.get("e") != event.pk or claims.get("u") != user.pk \
            or not isinstance(claims.get("n"), int):
        raise QueueRequired(event_id=event.pk, reason="invalid")
    return claims["n"]


def queue_pass_check(*, event: Event, user: User, queue_pass: str | None) -> int | None:
    """queue_pass_require without using the pass (one read of the line): the pass's
    number to give queue_pass_use once the hold is made, None when no pass is needed.
    A hold refused for its seats must not use the pass (that would turn minutes to
    pick seats into the longest a hold may last, for a buyer who holds nothing)."""
    if not queue_pass_checked(event):
        return None
    number = _pass_number(event, user, queue_pass)
    place = queue_line().place(event.pk, user.pk)
    if place.state in ("admitted", "in_use") and place.number == number:
        return number
    if place.state in ("admitted", "in_use"):
        raise QueueRequired(event_id=event.pk, reason="stale")
    if place.state in ("expired", "done"):
        raise QueueRequired(event_id=event.pk, reason="expired")
    raise QueueRequired(event_id=event.pk, reason="none")


def queue_pass_use(*, event_id: int, user: User, number: int) -> None:
    """Use the pass `number` of `user` (the first use starts its purchase window)."""
    outcome = queue_line().pass_use(event_id, user.pk, number)
    if outcome != "ok":
        raise QueueRequired(event_id=event_id, reason=outcome)


def queue_purchase_record(*, event_id: int, user_id: int) -> None:
    """After a purchase made with a pass commits: counted in the room's figures."""
    def record() -> None:
        queue_line().pass_purchased(event_id, user_id)

    transaction.on_commit(record, robust=True)


# --- hold and purchase latency (the adaptive rate's input) ------------------------------


class LatencyBuffer:
    """Hold and purchase latencies of this process's requests, sent to the line's store
    at most once a second per process (no round trip on each request)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._samples: dict[int, list[tuple[float, float]]] = {}
        self._flushed = time.monotonic()

    def add(self, event_id: int, seconds: float) -> None:
        with self._lock:
            self._samples.setdefault(event_id, []).append((time.time(), seconds * 1000))
            due = time.monotonic() - self._flushed >= 1.0
            if due:
                samples, self._samples = self._samples, {}
                self._flushed = time.monotonic()
        if due:
            self.flush(samples)

    @staticmethod
    def flush(samples: dict[int, list[tuple[float, float]]]) -> None:
        line = queue_line()
        for event_id, values in samples.items():
            try:
                line.latency_add(event_id, values)
            except Exception:
                logger.warning("waiting room latency samples lost", exc_info=True)

    def drain(self) -> None:
        with self._lock:
            samples, self._samples = self._samples, {}
        self.flush(samples)


latency = LatencyBuffer()
QUEUE_EVENT_ATTRIBUTE = "tombola_queue_event"
TIMED_VIEWS = frozenset({"event-holds", "hold-purchase"})


def observe_request(request, view_name: str, seconds: float) -> None:
    """core.metrics request observer: a hold or purchase made with a pass."""
    if view_name in TIMED_VIEWS:
        event_id = getattr(request, QUEUE_EVENT_ATTRIBUTE, None)
        if event_id is not None:
            latency.add(event_id, seconds)


# --- admission (the scheduler) -----------------------------------------------------------


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]


def adapt_rate(*, current: float, p95_ms: float | None, target_ms: float, floor: float,
               ceiling: float) -> float:
    """The next admission rate: multiplicative decrease when latency passes the target,
    additive-and-proportional increase while it stays well under (no samples: hold)."""
    if p95_ms is None:
        return current
    if p95_ms > target_ms:
        return max(floor, current * 0.7)
    if p95_ms < 0.7 * target_ms:
        return min(ceiling, current * 1.2 + 10)
    return current


def _adapt(room: dict[str, Any], place: Place) -> None:
    line = queue_line()
    event_id = room["event_id"]
    if not line.claim_tick(event_id, "adapt", ADAPT_EVERY_SECONDS):
        return  # another scheduler did it this period
    samples = line.latency_since(event_id, time.time() - ADAPT_WINDOW_SECONDS)
    p95 = _p95(samples) if len(samples) >= ADAPT_MIN_SAMPLES else None
    rate = adapt_rate(current=place.rate_per_minute, p95_ms=p95,
                      target_ms=room["target_latency_ms"], floor=1.0,
                      ceiling=float(room["max_rate_per_minute"]))
    if rate != place.rate_per_minute:
        line.set_rate(event_id, rate)
        logger.info("waiting room %s: rate %.0f -> %.0f a minute (p95 %s ms)", event_id,
                    place.rate_per_minute, rate, "n/a" if p95 is None else f"{p95:.0f}")


def waiting_rooms_admit() -> int:
    """Admit the next buyers of every room that is not closed; publish each line's
    progress. Safe with several schedulers (the store's admission step is atomic and
    shares one allowance). Returns how many buyers this call admitted."""
    # Nothing is sold once an event started (holds.sale_refusal): its room rests.
    rooms = list(WaitingRoom.objects.exclude(status=WaitingRoom.Status.CLOSED)
                 .filter(event__starts_at__gt=timezone.now()).values(
        "id", "event_id", "mode", "target_latency_ms", "max_rate_per_minute"))
    admitted = 0
    line = queue_line()
    for room in rooms:
        event_id = room["event_id"]
        try:
            # The store lost the line's configuration (or a sync failed): copy it again.
            place = _configured(event_id, line.place(event_id, None))
            if room["mode"] == WaitingRoom.Mode.ADAPTIVE and place.status == "open":
                _adapt(room, place)
            admission = line.admit(event_id, max_batch=MAX_BATCH)
            admitted += len(admission.admitted)
            if admission.opened:  # numbers are final: every phone re-reads its own
                publish_queue_opened(event_id, progress_data(line.place(event_id, None)))
            if admission.admitted:
                notify_queue_turn(event_id, admission.admitted, served=admission.served)
            moved = bool(admission.admitted or admission.skipped or admission.expired)
            # A long line's progress every progress_every(), moving or not.
            if _due(line, event_id, "progress", moved=moved,
                    moved_every=progress_every(place.length, moved=True),
                    quiet_every=progress_every(place.length, moved=False)):
                publish_progress(event_id)
            # The staff's few sockets: a move within a second, else every 2 s.
            if _due(line, event_id, "stats", moved=moved, moved_every=PROGRESS_MOVED_SECONDS,
                    quiet_every=PROGRESS_QUIET_SECONDS):
                publish_stats(event_id)
        except Exception:
            _failures.exception(event_id, "waiting room of event %s: admission failed", event_id)
    return admitted


# (event id, message name) of moves this process saw but could not tell yet (their
# tick was taken): told at its first call once the tick passes, moving or not.
_untold: set[tuple[int, str]] = set()
# A room whose admission fails (Redis down) would log ten tracebacks a second.
_failures = FailureLog(logger)


def _due(line, event_id: int, name: str, *, moved: bool, moved_every: float,
         quiet_every: float) -> bool:
    """Is it time for the line's next `name` message (claimed across schedulers)?

    A move is told within `moved_every` seconds, a quiet line every `quiet_every`. When
    the two are the same (a long line) one tick serves both. Otherwise a move claims
    its own tick, so that the last quiet message does not hold back the first move; a
    move told restarts the quiet period, so that the two cadences never add up; and a
    move that found its tick taken is told at the first call after it passes, so that
    the last moves of a burst are not left to the quiet cadence."""
    key = (event_id, name)
    if moved_every >= quiet_every or not (moved or key in _untold):
        return line.claim_tick(event_id, name, quiet_every)
    if not line.claim_tick(event_id, name + ":moved", moved_every):
        _untold.add(key)
        return False
    _untold.discard(key)
    line.hold_tick(event_id, name, quiet_every)
    return True


def progress_every(length: int, *, moved: bool) -> float:
    """Seconds until a line of `length` waiting buyers hears its progress again."""
    floor = PROGRESS_MOVED_SECONDS if moved else PROGRESS_QUIET_SECONDS
    return min(PROGRESS_MAX_SECONDS, max(floor, length / PROGRESS_FRAMES_PER_SECOND))


def publish_progress(event_id: int) -> None:
    publish_queue_progress(event_id, progress_data(queue_line().place(event_id, None)))


def room_figures(event_id: int) -> dict[str, Any]:
    """What staff see of a line: its figures now (the data of queue.stats)."""
    return queue_line().stats(event_id).as_dict()


def publish_stats(event_id: int) -> None:
    publish_queue_stats(event_id, room_figures(event_id))
