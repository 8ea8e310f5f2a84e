"""Serve HTTP + WebSocket with daphne; on embedded defaults also run the scheduler here.

The in-memory channel layer reaches only its own process, so without Redis
the scheduler (countdown ticks, due draws) must live inside the server; it also
publishes the stream messages other processes (``import_winners``, ``shell``)
left in the stream outbox (core/streams.py). At start the server forgets the
outbox messages written before it started: its snapshots already show them.

Stopping drains, and is bounded. On SIGTERM the worker stops accepting
connections and, on the event loop, sends ``core.signals.worker_draining``: the
consumers close their WebSockets with 1012 "service restart" in batches over
about a second (consumers/drain.py), so that clients resume on another worker
with `since` spread out rather than all at once. Meanwhile the HTTP requests in
flight finish and answer (core/http.py counts them). When both are done the
reactor stops, at the latest STOP_MARGIN before SHUTDOWN_GRACE_SECONDS. A sync
view stuck in its request thread would keep the interpreter from exiting, so
SHUTDOWN_GRACE_SECONDS after the signal the process exits whatever is still
running, with status 1 (a clean stop exits 0). A second SIGTERM while draining
changes nothing. SIGINT (Ctrl-C) stops at once, within the same deadline.
"""

import contextlib
import logging
import os
import signal
import sys
import threading
import time

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import DatabaseError
from django.utils import timezone
from django.utils.module_loading import import_string

from core.signals import worker_draining

logger = logging.getLogger(__name__)

# The reactor stops at the latest this long before the grace runs out, so that
# daphne cancels its applications and the process exits 0 before the watchdog.
STOP_MARGIN = 1.0
# The worker's WebSockets are closed over (at most) this many seconds.
WS_CLOSE_WINDOW = 1.0
# Close codes RFC 6455 lets a server send that autobahn's sendClose refuses to an
# application (it allows 1000 and 3000-4999): 1001 going away, 1012 service restart.
RESTART_CLOSE_CODES = frozenset({1001, 1012})


_deadline_started = threading.Event()


def exit_after_grace(grace: float) -> None:
    """From now on, leave at most `grace` seconds to what is still running, then exit.

    Runs in a daemon thread, so a process whose threads all finish in time exits
    normally before it fires. Only the first call counts: the deadline runs from
    the signal, not from each later stage of the shutdown.
    """
    if _deadline_started.is_set():
        return
    _deadline_started.set()

    def watchdog() -> None:
        time.sleep(grace)
        busy = [t.name for t in threading.enumerate()
                if t is not threading.current_thread() and not t.daemon and t.is_alive()]
        logger.warning("shutdown grace of %.1f s is over; exiting with %d threads still "
                       "running: %s", grace, len(busy), ", ".join(busy))
        logging.shutdown()
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):  # exiting anyway; a closed pipe must not stop it
                stream.flush()
        os._exit(1)  # not a clean stop: a supervisor can tell

    threading.Thread(target=watchdog, name="shutdown-deadline", daemon=True).start()


def http_in_flight() -> int:
    """HTTP requests being served now (0 when HTTP runs on Django's ASGIHandler)."""
    import routing

    return getattr(routing.http_app, "in_flight", 0)


_draining = False


def drain_then_stop(grace: float) -> None:
    """On the reactor: stop accepting, close the WebSockets (1012, spread out), wait for
    HTTP in flight, stop the reactor (at the latest STOP_MARGIN before the grace ends).

    Only the first call drains: a second SIGTERM while draining is ignored.
    """
    global _draining
    from twisted.internet import reactor, tcp

    if _draining:
        logger.warning("SIGTERM again: already draining")
        return
    _draining = True
    exit_after_grace(grace)
    # daphne keeps no handle on its listening ports (its listen Deferreds fire None).
    for reader in reactor.getReaders():
        if isinstance(reader, tcp.Port):
            reader.stopListening()
    started = time.monotonic()
    stop_after = max(grace - min(STOP_MARGIN, grace / 2), 0.0)
    window = min(WS_CLOSE_WINDOW, stop_after / 2)
    logger.info("SIGTERM: draining %d HTTP request(s) in flight", http_in_flight())
    # We are on the reactor's thread, i.e. inside the asyncio loop the consumers run on.
    closing = []
    for receiver, result in worker_draining.send_robust(sender=__name__, window=window):
        if isinstance(result, Exception):
            logger.error("worker_draining receiver %r failed", receiver, exc_info=result)
        elif result is not None:
            closing.append(result)

    def poll() -> None:
        in_flight = http_in_flight()
        if in_flight == 0 and all(task.done() for task in closing):
            reactor.stop()
        elif time.monotonic() - started >= stop_after:
            logger.warning("drain: stopping with %d HTTP request(s) in flight after %.1f s",
                           in_flight, stop_after)
            reactor.stop()
        else:
            reactor.callLater(0.05, poll)

    poll()


def allow_restart_close_codes() -> None:
    """Let an application close a WebSocket with 1001 or 1012 under daphne.

    daphne's serverClose goes through autobahn's sendClose, which raises for any
    code but 1000 and 3000-4999 (the ranges an application may pick freely). 1001
    and 1012 are registered codes a server sends when it goes away or restarts;
    daphne itself sends 1011 the same way, with sendCloseFrame.
    """
    from daphne.ws_protocol import WebSocketProtocol

    original = WebSocketProtocol.serverClose
    if getattr(original, "allows_restart_codes", False):
        return

    def serverClose(self, code=None):  # daphne's name
        if code in RESTART_CLOSE_CODES:
            self.sendCloseFrame(code=code, isReply=False)
        else:
            original(self, code)

    serverClose.allows_restart_codes = True
    WebSocketProtocol.serverClose = serverClose


class Command(BaseCommand):
    help = "Serve the ASGI app with daphne (and the scheduler in-process on embedded defaults)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument(
            "--no-scheduler", action="store_true", help="Do not start the in-process scheduler."
        )

    def handle(self, *args, host, port, no_scheduler, **options):
        from daphne.cli import CommandLineInterface
        from twisted.internet import reactor  # daphne.cli installed the asyncio reactor

        from core import links, streams
        from core.accesslog import without_access_log
        from core.conf import assert_safe_to_serve

        assert_safe_to_serve()
        # Links made without a request (the in-process scheduler) name this listener.
        links.serve_base_url(host, port)
        # This process serves the sockets: without Redis, it alone publishes (other
        # processes write to the stream outbox, which its scheduler drains).
        streams.serve_streams_here()
        # What other processes left in the stream outbox before this server started is
        # already in every snapshot it will build: not news to publish (core/streams.py).
        try:
            streams.outbox_discard_before(timezone.now())
        except DatabaseError as exc:  # e.g. SQLite locked for too long: the drain's age limit
            logger.warning("stream outbox not cleared at start: %s", exc)
        if settings.RUN_SCHEDULER_IN_PROCESS and not no_scheduler and settings.SCHEDULER_LOOP:
            loop = import_string(settings.SCHEDULER_LOOP)
            threading.Thread(target=loop, name="scheduler", daemon=True).start()
            self.stdout.write("Scheduler running inside this process.")
        grace = settings.SHUTDOWN_GRACE_SECONDS
        allow_restart_close_codes()
        cli = CommandLineInterface()
        # core/requestlog.py writes the access log (with request ids, redacted).
        cli.server_class = without_access_log(cli.server_class)

        def on_sigterm(signum, frame) -> None:
            reactor.callFromThread(drain_then_stop, grace)

        # After Twisted installed its own handlers (which stop at once): SIGTERM drains.
        reactor.callWhenRunning(signal.signal, signal.SIGTERM, on_sigterm)
        # Whatever stops the reactor (SIGINT, the drain), the deadline runs from
        # then at the latest, before daphne waits for the applications it cancels.
        reactor.addSystemEventTrigger("before", "shutdown", exit_after_grace, grace)
        self.stdout.write(f"Serving on http://{host}:{port}/ (API docs at /api/docs/)")
        cli.run(["-b", host, "-p", str(port), "core.asgi:application"])
