"""Serve HTTP + WebSocket with daphne; on embedded defaults also run the scheduler here.

The in-memory channel layer reaches only its own process, so without Redis
the scheduler (countdown ticks, due draws) must live inside the server.
"""

import logging
import threading

from django.conf import settings
from django.core.management.base import BaseCommand
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)


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

        from core.conf import assert_safe_to_serve

        assert_safe_to_serve()
        if settings.RUN_SCHEDULER_IN_PROCESS and not no_scheduler and settings.SCHEDULER_LOOP:
            loop = import_string(settings.SCHEDULER_LOOP)
            threading.Thread(target=loop, name="scheduler", daemon=True).start()
            self.stdout.write("Scheduler running inside this process.")
        self.stdout.write(f"Serving on http://{host}:{port}/ (API docs at /api/docs/)")
        CommandLineInterface().run(["-b", host, "-p", str(port), "core.asgi:application"])
