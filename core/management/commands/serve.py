"""Serve HTTP + WebSocket with daphne; on embedded defaults also run the scheduler here.

The in-memory channel layer reaches only its own process, so without Redis
the scheduler (countdown ticks, due draws) must live inside the server.

Stopping is bounded. On SIGTERM daphne cancels the applications in flight, but
a sync view keeps running in its request thread, and the interpreter waits for
those threads at exit (and daphne's shutdown can wait for them too): a worker
with a stuck request never exited. Here a stop lets requests in flight finish
for SHUTDOWN_GRACE_SECONDS, then the process exits whatever is still running.
"""

import contextlib
import logging
import os
import sys
import threading
import time

from django.conf import settings
from django.core.management.base import BaseCommand
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)


def exit_after_grace(grace: float) -> None:
    """From now on, leave at most `grace` seconds to what is still running, then exit.

    Runs in a daemon thread, so a process whose threads all finish in time exits
    normally before it fires.
    """

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

        from core.conf import assert_safe_to_serve

        assert_safe_to_serve()
        if settings.RUN_SCHEDULER_IN_PROCESS and not no_scheduler and settings.SCHEDULER_LOOP:
            loop = import_string(settings.SCHEDULER_LOOP)
            threading.Thread(target=loop, name="scheduler", daemon=True).start()
            self.stdout.write("Scheduler running inside this process.")
        # The deadline starts when the reactor begins to shut down (SIGTERM/SIGINT),
        # before daphne waits for the applications it cancels.
        reactor.addSystemEventTrigger("before", "shutdown", exit_after_grace,
                                      settings.SHUTDOWN_GRACE_SECONDS)
        self.stdout.write(f"Serving on http://{host}:{port}/ (API docs at /api/docs/)")
        CommandLineInterface().run(["-b", host, "-p", str(port), "core.asgi:application"])
