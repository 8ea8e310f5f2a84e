"""Compile every locale/<lang>/LC_MESSAGES/*.po into its .mo, in pure Python (polib).

`make setup` runs it (and the Dockerfile), so a fresh checkout needs no GNU gettext:
Django's own `compilemessages` calls its `msgfmt`, which slim images and CI machines
lack. The .mo files are build output (.gitignore); the .po files are the source.
"""

from __future__ import annotations

from pathlib import Path

import polib
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


def catalogs() -> list[Path]:
    """Every .po file under settings.LOCALE_PATHS."""
    return sorted(po for root in settings.LOCALE_PATHS
                  for po in Path(root).glob("*/LC_MESSAGES/*.po"))


def compile_catalog(po_path: Path) -> Path:
    """Write `po_path`'s .mo beside it (fuzzy entries left out, as msgfmt does)."""
    catalog = polib.pofile(str(po_path))
    for entry in catalog.fuzzy_entries():
        if entry.msgid:  # the header stays, whatever its flags
            catalog.remove(entry)
    mo_path = po_path.with_suffix(".mo")
    catalog.save_as_mofile(str(mo_path))
    return mo_path


class Command(BaseCommand):
    help = "Compile the project's .po translation catalogs into .mo files (no msgfmt needed)."

    def handle(self, *args, **options):
        found = catalogs()
        if not found:
            raise CommandError(f"No .po files under {settings.LOCALE_PATHS}.")
        for po_path in found:
            try:
                mo_path = compile_catalog(po_path)
            except (OSError, ValueError) as exc:  # polib raises IOError/ValueError on bad syntax
                raise CommandError(f"{po_path}: {exc}") from exc
            self.stdout.write(f"compiled {mo_path.relative_to(settings.BASE_DIR)}")
