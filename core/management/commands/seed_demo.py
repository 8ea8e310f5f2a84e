"""Demo data for the quick start; safe to run again (it changes nothing the second time)."""

from django.core.management.base import BaseCommand
from django.db import transaction

from core.models import User

DEMO_STAFF_EMAIL = "demo@tombola.local"
DEMO_STAFF_PASSWORD = "tombola-demo"  # printed in the README; local demo only


class Command(BaseCommand):
    help = "Create the demo staff login and demo data (idempotent)."

    @transaction.atomic
    def handle(self, *args, **options):
        staff, created = User.objects.get_or_create(
            email=DEMO_STAFF_EMAIL,
            defaults={"is_staff": True, "is_superuser": True, "first_name": "Demo"},
        )
        if created:
            staff.set_password(DEMO_STAFF_PASSWORD)
            staff.save(update_fields=["password"])
        verb = "Created" if created else "Kept"
        self.stdout.write(f"{verb} demo staff login {DEMO_STAFF_EMAIL} / {DEMO_STAFF_PASSWORD}")
