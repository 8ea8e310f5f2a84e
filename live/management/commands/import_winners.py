"""python manage.py import_winners <draw_id> <file.csv>: an external draw's winners.

Published like the admin upload (the same service). From this process the messages
reach the running server through Redis, or on embedded defaults through the stream
outbox that the server's scheduler publishes within a tick (core/streams.py).
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from core.errors import DomainError
from live.errors import InvalidWinnersFile
from live.imports import read_winners_csv, winners_import
from live.models import Draw


class Command(BaseCommand):
    help = ("Import an external draw's winners from a CSV file with columns participant "
            "(user id or phone) and prize (prize id or exact name). All rows or none.")

    def add_arguments(self, parser):
        parser.add_argument("draw_id", type=int)
        parser.add_argument("file", type=Path)

    def handle(self, *args, draw_id: int, file: Path, **options):
        draw = Draw.objects.filter(pk=draw_id).first()
        if draw is None:
            raise CommandError(f"No draw {draw_id}.")
        try:
            data = file.read_bytes()
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc.strerror}") from None
        try:
            rows = read_winners_csv(data)
            self.stdout.write(f"Checking {len(rows)} row(s) of {file.name} for draw {draw_id}...")
            result = winners_import(draw=draw, rows=rows, actor=None, progress=self._progress)
        except InvalidWinnersFile as exc:
            for error in exc.extra["errors"]:
                self.stderr.write(f"row {error['row']}, {error['column']}: {error['message']}")
            raise CommandError(f"{exc.detail}") from None
        except UnicodeDecodeError:
            raise CommandError("The file is not UTF-8 text; nothing was imported.") from None
        except DomainError as exc:
            raise CommandError(f"{exc.detail} ({exc.code})") from None
        if result.imported:
            self.stdout.write(self.style.SUCCESS(
                f"Imported {result.winners} winner(s) for draw {draw_id}."))
        else:
            self.stdout.write(f"Already imported: draw {draw_id} has these {result.winners} "
                              "winner(s); nothing changed.")

    def _progress(self, rows: int) -> None:
        self.stdout.write(f"  checked {rows} row(s)")
