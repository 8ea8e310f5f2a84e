"""Serve HTTP + WebSocket with daphne; on embedded defaults also run the scheduler here.

The in-memory channel layer reaches only its own process, so without Redis
the scheduler (countdown ticks, due draws) must live inside the server; it also
publishes the stream messages other processes (``import_winners``, ``shell``)
left in the stream outbox (core/streams.py).

Stopping drains, and is bounded. On SIGTERM the worker stops accepting
connections, lets the HTTP requests in flight finish and answer (core/http.py
counts them), then stops daphne, which closes the WebSockets (clients resume
on another worker with `since`). A sync view stuck in its request thread
would keep the interpreter from exiting, so SHUTDOWN_GRACE_SECONDS after the
signal the process exits whatever is still running. SIGINT (Ctrl-C) stops at
once, within the same deadline.
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
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)


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
        os._exit(0)

    threading.Thread(target=watchdog, name="shutdown-deadline", daemon=True).start()


def http_in_flight() -> int:
    """HTTP requests being served now (0 when HTTP runs on Django's ASGIHandler)."""
    import routing

    return getattr(routing.http_app, "in_flight", 0)


def drain_then_stop(grace: float) -> None:
    """On the reactor: stop accepting, wait for HTTP in flight (<= grace), stop the reactor."""
    from twisted.internet import reactor, tcp

    exit_after_grace(grace)
    # daphne keeps no handle on its listening ports (its listen Deferreds fire None).
    for reader in reactor.getReaders():
        if isinstance(reader, tcp.Port):
            reader.stopListening()
    started = time.monotonic()
    logger.info("SIGTERM: draining %d HTTP request(s) in flight", http_in_flight())

    def poll() -> None:
        if http_in_flight() == 0 or time.monotonic() - started >= grace:
            reactor.stop()
        else:
            reactor.callLater(0.05, poll)

    poll()


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

        from core import streams
        from core.conf import assert_safe_to_serve

        assert_safe_to_serve()
        # This process serves the sockets: without Redis, it alone publishes (other
        # processes write to the stream outbox, which its scheduler drains).
        streams.serve_streams_here()
        if settings.RUN_SCHEDULER_IN_PROCESS and not no_scheduler and settings.SCHEDULER_LOOP:
            loop = import_string(settings.SCHEDULER_LOOP)
            threading.Thread(target=loop, name="scheduler", daemon=True).start()
            self.stdout.write("Scheduler running inside this process.")
        grace = settings.SHUTDOWN_GRACE_SECONDS
        cli = CommandLineInterface()

        def on_sigterm(signum, frame) -> None:
            reactor.callFromThread(drain_then_stop, grace)

        # After Twisted installed its own handlers (which stop at once): SIGTERM drains.
        reactor.callWhenRunning(signal.signal, signal.SIGTERM, on_sigterm)
        # Whatever stops the reactor (SIGINT, the drain), the deadline runs from
        # then at the latest, before daphne waits for the applications it cancels.
        reactor.addSystemEventTrigger("before", "shutdown", exit_after_grace, grace)
        self.stdout.write(f"Serving on http://{host}:{port}/ (API docs at /api/docs/)")
        cli.run(["-b", host, "-p", str(port), "core.asgi:application"])
