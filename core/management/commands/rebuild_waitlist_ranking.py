"""Rebuild the Redis waitlist ranking from the database (after a Redis restart,
a restore, or a change of WAITLIST_RANKING)."""

import time

from django.core.management.base import BaseCommand, CommandError

from core import ranking
from core.errors import DomainError
from core.services.waitlist import ranking_index_rebuild


class Command(BaseCommand):
    help = "Rebuild the Redis sorted set that serves waitlist positions."

    def add_arguments(self, parser):
        parser.add_argument("--chunk-size", type=int, default=20_000)

    def handle(self, *args, chunk_size: int, **options):
        if chunk_size < 1:
            raise CommandError("--chunk-size must be positive")
        started = time.monotonic()
        name = ranking.current().redis_name

        def progress(done: int, total: int) -> None:
            percent = 100 * done // total if total else 100
            self.stdout.write(f"  {done:,}/{total:,} users ({percent}%)")

        self.stdout.write(f"Rebuilding the waitlist ranking '{name}' in chunks of {chunk_size:,}")
        try:
            count = ranking_index_rebuild(chunk_size=chunk_size, progress=progress)
        except DomainError as exc:
            raise CommandError(str(exc.detail)) from exc
        elapsed = time.monotonic() - started
        self.stdout.write(
            self.style.SUCCESS(f"Ranked {count:,} users in {elapsed:.1f}s ('{name}' is live)")
        )
