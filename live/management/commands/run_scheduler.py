from django.core.management.base import BaseCommand

from live.scheduler import run


class Command(BaseCommand):
    help = ("Run the scheduler loop: perform due draws, countdown ticks, recurring draws, "
            "check-in codes and periodic jobs. Stops cleanly on SIGTERM.")

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="Run one tick and exit.")

    def handle(self, *args, once: bool = False, **options):
        def ready():
            self.stdout.write("Scheduler running; SIGTERM stops it after the current tick.")
            self.stdout.flush()

        run(once=once, on_ready=ready)
