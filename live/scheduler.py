"""The scheduler loop: due draws, countdown ticks, recurring draws, check-in codes,
and every job in core.periodic.

    python manage.py run_scheduler          # until SIGTERM/SIGINT
    python manage.py run_scheduler --once   # one tick (tests)

Several schedulers may run against one PostgreSQL database: due draws are taken
with ``select_for_update(skip_locked=True)`` and performed by the service that
re-checks the status under the lock, so each is performed exactly once.
Countdown ticks and check-in codes are deduplicated across processes with
``cache.add`` (atomic SET NX on Redis; the in-process cache on embedded
defaults, where only one scheduler runs, inside the server).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import signal
import socket
import threading
import time
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import close_old_connections, transaction
from django.db.models import Q
from django.utils import timezone

from core.models import Event
from core.periodic import FailureLog, periodic_jobs
from live import checkin, fairness
from live.draw_messages import draw_countdown_data
from live.errors import AlreadyPerformed
from live.models import Draw
from live.services.checkin import checkin_code_publish
from live.services.draws import draw_close_entries, draw_create_next_occurrence
from live.services.performing import draw_perform
from live.streams import publish_draw

logger = logging.getLogger(__name__)


def source() -> str:
    """This scheduler process, as the source of what it does (no user acts)."""
    return f"scheduler:{socket.gethostname()}:{os.getpid()}"


def close_due_entries(now=None) -> int:
    """Close open draws whose entries_close_at has passed (performing comes later)."""
    now = now or timezone.now()
    due = Draw.objects.filter(status=Draw.Status.OPEN, entries_close_at__lte=now)
    closed = 0
    while due.exists():  # cheap check first: on SQLite every atomic block takes the write lock
        with transaction.atomic():
            draw = (due.select_for_update(skip_locked=True)
                    .order_by("entries_close_at", "id").first())
            if draw is None:
                return closed
            draw_close_entries(draw=draw)
            closed += 1
    return closed


def perform_due_draws(now=None) -> list[int]:
    """Perform every due draw once; returns the ids this process performed.

    Due: open or closed draws whose scheduled time has come, and draws awaiting their
    beacon round (scheduled or performed by hand) whose last attempt is
    BEACON_RETRY_SECONDS old. One still without its round stays awaiting_beacon (the
    service published draw.awaiting_beacon) and is tried again on a later tick.

    A tombola-beacon-v2 draw is taken under the row lock but performed after it is
    released: fetching its round from the relays (up to BEACON_TIMEOUT_SECONDS each) and
    the pure-Python BLS check (seconds) must not hold the draw's row (nor, on SQLite, the
    database's write lock) meanwhile. Taking it stamps beacon_attempted_at, a lease that
    keeps other schedulers off it for BEACON_RETRY_SECONDS; should two still fetch the
    same round, draw_perform's own lock lets one perform it and the other gets
    AlreadyPerformed, which is no failure."""
    now = now or timezone.now()
    performed: list[int] = []
    skipped: set[int] = set()
    retry_before = now - timedelta(seconds=settings.BEACON_RETRY_SECONDS)
    not_leased = Q(beacon_attempted_at__isnull=True) | Q(beacon_attempted_at__lte=retry_before)
    due = (Draw.objects.filter(
        Q(status__in=[Draw.Status.OPEN, Draw.Status.CLOSED], scheduled_at__lte=now)
        | Q(status=Draw.Status.AWAITING_BEACON)).filter(not_leased)
        .exclude(kind=Draw.Kind.EXTERNAL))
    while due.exclude(pk__in=skipped).exists():
        with transaction.atomic():
            draw = (due.exclude(pk__in=skipped).select_for_update(skip_locked=True)
                    .order_by("scheduled_at", "id").first())
            if draw is None:  # the rest are being performed by another scheduler
                return performed
            skipped.add(draw.pk)
            leased = draw.algorithm == fairness.ALGORITHM_BEACON
            if leased:
                Draw.objects.filter(pk=draw.pk).update(beacon_attempted_at=timezone.now())
            elif _perform_one(draw, savepoint=True):
                performed.append(draw.pk)
        if leased and _perform_one(draw, savepoint=False):
            performed.append(draw.pk)
    return performed


def _perform_one(draw: Draw, *, savepoint: bool) -> bool:
    """True if `draw` is performed now; False if it waits for its beacon round, another
    scheduler performed it, or it failed (logged: one broken draw must not stop the others).
    `savepoint`: inside the caller's locked transaction (a failure rolls back this draw
    only); a beacon draw is performed outside any, its service taking short locks itself."""
    try:
        with transaction.atomic() if savepoint else contextlib.nullcontext():
            return draw_perform(draw=draw, actor=None, source=source()).is_performed
    except AlreadyPerformed:
        return False
    except Exception:
        logger.exception("performing draw %s failed", draw.pk)
        return False


def tick_due(seconds_left: int) -> bool:
    return seconds_left <= 60 or seconds_left % 10 == 0


def publish_countdowns(now=None) -> int:
    """draw.countdown every second in the last 60 s and every 10 s before (within the horizon)."""
    now = now or timezone.now()
    horizon = now + timedelta(seconds=settings.SCHEDULER_COUNTDOWN_HORIZON_SECONDS)
    sent = 0
    draws = Draw.objects.filter(status__in=[Draw.Status.OPEN, Draw.Status.CLOSED],
                                scheduled_at__gt=now, scheduled_at__lte=horizon)
    for draw in draws.only("id", "event_id", "scheduled_at"):
        seconds_left = math.ceil((draw.scheduled_at - now).total_seconds())
        if not tick_due(seconds_left):
            continue
        key = f"live:countdown:{draw.pk}:{draw.scheduled_at.timestamp()}:{seconds_left}"
        if not cache.add(key, 1, timeout=120):
            continue  # another scheduler sent this tick
        # No transaction: outside one, publish_on_commit publishes at once.
        publish_draw(draw, "draw.countdown",
                     draw_countdown_data(draw, server_time=now, seconds_left=seconds_left))
        sent += 1
    return sent


def create_recurring_draws() -> int:
    made = 0
    due = (Draw.objects.filter(status=Draw.Status.PERFORMED, recurrence=Draw.Recurrence.DAILY,
                               next_occurrence__isnull=True)
           .select_related("event").prefetch_related("prizes"))
    for draw in due:
        if draw_create_next_occurrence(draw=draw) is not None:
            made += 1
    return made


def publish_checkin_codes(now=None) -> int:
    """checkin.code on screen:<event_id> once per window for events that require codes."""
    window = checkin.current_window(now)
    sent = 0
    events = Event.objects.filter(checkin_code_required=True,
                                  status__in=[Event.Status.PUBLISHED, Event.Status.LIVE])
    for event in events.only("id", "checkin_secret"):
        if cache.add(f"live:checkin-code:{event.pk}:{window}", 1,
                     timeout=checkin.window_seconds() * 4):
            checkin_code_publish(event=event)
            sent += 1
    return sent


# run_periodic: how early a job may run (at most a quarter of its interval).
JOB_SLACK_SECONDS = 0.05


class Scheduler:
    """One loop; `tick()` does one round of everything."""

    def __init__(self) -> None:
        self.stop_event = threading.Event()
        self._last_run: dict[str, float] = {}
        self._failures = FailureLog(logger)

    def run_periodic(self, *, shorter_than: float = math.inf) -> None:
        """Every due job (of those that run more often than `shorter_than` seconds)."""
        clock = time.monotonic()
        for job in periodic_jobs():
            if job.every_seconds >= shorter_than:
                continue
            # A little slack: a tick that wakes a few ms early must not skip a 1 s job.
            slack = min(JOB_SLACK_SECONDS, job.every_seconds / 4)
            if clock - self._last_run.get(job.name, -math.inf) < job.every_seconds - slack:
                continue
            self._last_run[job.name] = clock
            try:
                job.func()
            except Exception:
                self._failures.exception(job.name, "periodic job %s failed", job.name)

    def tick(self) -> None:
        close_old_connections()
        steps = (close_due_entries, perform_due_draws, create_recurring_draws,
                 publish_countdowns, publish_checkin_codes, self.run_periodic)
        for step in steps:
            try:
                step()
            except Exception:  # the loop must survive a bad tick (database restart, ...)
                logger.exception("scheduler step %s failed", step.__name__)

    def run(self, *, once: bool = False) -> None:
        interval = settings.SCHEDULER_TICK_SECONDS
        while not self.stop_event.is_set():
            self.tick()
            if once:
                break
            # Wake just after the next whole second, so countdown ticks land on seconds.
            delay = interval - (time.time() % interval) + 0.01
            self.wait_running_fast_jobs(time.monotonic() + delay, interval)
        close_old_connections()

    def wait_running_fast_jobs(self, until: float, interval: float) -> None:
        """Wait for the next tick; meanwhile run the jobs that are due more often than
        ticks come (the waiting rooms' admission, every 0.1 s: a second's buyers let in a
        few at a time, not all at the same instant; bench/waiting_room.py)."""
        while not self.stop_event.is_set():
            fast = [job.every_seconds for job in periodic_jobs()
                    if 0 < job.every_seconds < interval]
            remaining = until - time.monotonic()
            # The tick comes first (and runs them): a run must not make it late.
            if not fast or remaining <= min(fast) + JOB_SLACK_SECONDS:
                self.stop_event.wait(max(0.0, remaining))
                return
            if self.stop_event.wait(min(fast)):
                return
            # (Stale connections are closed by the tick, once a second: here it would
            # open a connection ten times a second where connections are not kept.)
            self.run_periodic(shorter_than=interval)

    def stop(self, *_args) -> None:
        self.stop_event.set()


def run(*, once: bool = False, on_ready=None) -> None:
    """Entry point for settings.SCHEDULER_LOOP. Stops cleanly on SIGTERM/SIGINT when it
    runs on the main thread (the in-process server thread is a daemon instead)."""
    scheduler = Scheduler()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, scheduler.stop)
        signal.signal(signal.SIGINT, scheduler.stop)
    logger.info("scheduler started (%s)", source())
    if on_ready is not None:
        on_ready()
    scheduler.run(once=once)
    logger.info("scheduler stopped")
