"""Delete old phone verification codes (run daily from cron or the scheduler)."""

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError

from core.services.phone_verification import phone_verifications_purge


class Command(BaseCommand):
    help = "Delete phone verification codes older than --days (default 7)."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=float, default=7.0)

    def handle(self, *args, days: float, **options):
        try:
            deleted = phone_verifications_purge(older_than=timedelta(days=days))
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Deleted {deleted} phone verification codes older than {days} days.")
