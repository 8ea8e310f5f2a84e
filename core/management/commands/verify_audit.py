from django.core.management.base import BaseCommand, CommandError

from core import audit


class Command(BaseCommand):
    help = "Seal pending audit entries, then verify the hash chain (exit 1 when broken)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--expect-head", metavar="SEQ:HASH",
            help="A head printed by an earlier run; detects deleted newest entries.",
        )
        parser.add_argument("--no-seal", action="store_true", help="Only verify; do not seal.")

    def handle(self, *args, expect_head=None, no_seal=False, **options):
        if not no_seal:
            sealed = audit.seal()
            if sealed:
                self.stdout.write(f"Sealed {sealed} pending entries.")
        try:
            expected = audit.Head.parse(expect_head) if expect_head else None
        except ValueError:
            raise CommandError("--expect-head takes SEQ:HASH, as this command prints it.") from None
        result = audit.verify(expected_head=expected)
        for problem in result.problems:
            self.stderr.write(problem)
        if not result.ok:
            raise CommandError(
                f"Audit chain is broken: {len(result.problems)} problem(s) "
                f"in {result.checked} entries."
            )
        self.stdout.write(f"Audit chain intact: {result.checked} entries. Head {result.head}")
