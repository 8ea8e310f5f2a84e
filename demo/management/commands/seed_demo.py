"""Demo data for the quick start and for benchmarks; safe to run again.

Every demo object has a fixed natural key (venue name, event titles, draw
titles, demo emails), so a second run finds it and creates only what is
missing; `make run` calls this at every start. Writes go through the
services (layout, prices, sale, draws, wallets, referrals, screen keys);
only large counts (above --bulk-threshold) insert users in bulk and raffle
entries through live's bulk service (draw_enter_many, shared with the test
factories), which keeps the Entry invariants under the draw's row lock.
"""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from core.models import Event, User, Venue
from core.redis import get_redis
from core.services import waitlist
from core.services.events import event_create
from live.models import Draw, Entry, ScreenKey
from live.services.checkin import screen_key_issue
from live.services.draws import draw_create, draw_enter, draw_enter_many
from ticketing.models import EventSale, Seat, SectionPrice, Wallet
from ticketing.services import layout, wallets

DEMO_PASSWORD = "tombola-demo"  # printed in the README; local demo only
DEMO_STAFF_EMAIL = "demo@tombola.local"
DEMO_STAFF_PASSWORD = DEMO_PASSWORD
DEMO_ATTENDEE_EMAIL = "alice@tombola.local"
DEMO_USER_EMAIL = "demo-user-{:05d}@tombola.local"
DEMO_USER_PREFIX, DEMO_USER_SUFFIX = "demo-user-", "@tombola.local"

VENUE_NAME = "Central Stadium"
MATCH_TITLE = "Demo match: Tombola FC v Lucky Rovers"
MEETUP_TITLE = "Demo meetup: live draws"
RAFFLE_TITLE = "Demo raffle"
LOTTERY_TITLE = "Demo lottery"
EXTERNAL_TITLE = "Demo external draw"
SCREEN_LABEL = "Demo venue screen"

SECTIONS = ["North Stand", "South Stand", "East Stand", "West Stand"]
SECTION_PRICES = [4500, 3500, 2500, 2000]  # minor units, by section order
SEATS_PER_ROW = 10
REFERRING_USERS = 300  # referrals among the first demo users only
FUNDED_USERS = 200  # wallet top-ups (one service call each) for the first demo users
TOP_UP = 10_000
CHUNK = 5_000


def demo_email(n: int) -> str:
    return DEMO_USER_EMAIL.format(n)


def seat_layout(seats: int) -> list[dict]:
    """`seats` seats in rows of SEATS_PER_ROW (the last one shorter), dealt to the sections."""
    rows = [SEATS_PER_ROW] * (seats // SEATS_PER_ROW)
    if seats % SEATS_PER_ROW:
        rows.append(seats % SEATS_PER_ROW)
    sections: list[dict] = [{"name": name, "rows": []} for name in SECTIONS]
    for i, size in enumerate(rows):
        section = sections[i % len(SECTIONS)]
        section["rows"].append({"label": str(len(section["rows"]) + 1), "seats": size})
    return [section for section in sections if section["rows"]]


class Progress:
    """`\\r[#####     ] 50,000/100,000` on stdout; silent when disabled."""

    WIDTH = 30

    def __init__(self, stdout, label: str, total: int, enabled: bool):
        self.stdout, self.label, self.total, self.enabled = stdout, label, total, enabled
        self.done = 0

    def advance(self, n: int) -> None:
        self.done += n
        if not self.enabled:
            return
        filled = self.WIDTH * self.done // max(self.total, 1)
        bar = "#" * filled + " " * (self.WIDTH - filled)
        self.stdout.write(f"\r{self.label} [{bar}] {self.done:,}/{self.total:,}", ending="")
        if self.done >= self.total:
            self.stdout.write("")
        self.stdout.flush()


class Command(BaseCommand):
    help = "Create the demo logins, venue, events, draws, users and entries (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--users", type=int, default=50, help="Demo attendees (default 50).")
        parser.add_argument("--seats", type=int, default=200,
                            help="Seats at the demo venue when it is created (default 200).")
        parser.add_argument("--entries", type=int, default=None,
                            help="Demo users entered into the raffle (default: all of them).")
        parser.add_argument("--bulk-threshold", type=int, default=5_000,
                            help="Above this many missing users/entries, insert in bulk.")
        parser.add_argument("--progress-threshold", type=int, default=5_000,
                            help="Show a progress bar from this many items (always on a TTY).")

    def handle(self, *args, users, seats, entries, bulk_threshold, progress_threshold, **options):
        entries = users if entries is None else entries
        if users < 0 or seats < 1 or not 0 <= entries <= users:
            raise CommandError("Use --users >= 0, --seats >= 1 and 0 <= --entries <= --users.")
        self.bulk_threshold, self.progress_threshold = bulk_threshold, progress_threshold
        self.created: dict[str, int] = {}
        self.bulk_users = False
        with transaction.atomic():
            staff = self.known_login(DEMO_STAFF_EMAIL, "Demo", staff=True)
            alice = self.known_login(DEMO_ATTENDEE_EMAIL, "Alice", staff=False)
            venue = self.venue(seats)
            self.match(venue)
            meetup = self.meetup(venue)
            raffle = self.draws(meetup)
            demo_users = self.users(users)
            self.referrals(self.first_users(demo_users, REFERRING_USERS))
            self.wallets([alice, *self.first_users(demo_users, FUNDED_USERS)])
            self.entries(raffle, demo_users[:entries])
            key = self.screen_key(meetup, staff)
        if self.bulk_users and get_redis() is not None:
            waitlist.ranking_index_rebuild()
        self.report(meetup, key)

    # --- steps ---------------------------------------------------------------

    def count(self, what: str, n: int = 1) -> None:
        if n:
            self.created[what] = self.created.get(what, 0) + n

    def known_login(self, email: str, first_name: str, *, staff: bool) -> User:
        user, created = User.objects.get_or_create(
            email=email,
            defaults={"is_staff": staff, "is_superuser": staff, "first_name": first_name,
                      "email_verified_at": timezone.now()},
        )
        if created:
            user.set_password(DEMO_PASSWORD)  # argon2: only these two logins pay for it
            user.save(update_fields=["password"])
            self.count("logins")
        return user

    def venue(self, seats: int) -> Venue:
        venue = Venue.objects.filter(name=VENUE_NAME).order_by("pk").first()
        if venue is None:
            venue = layout.venue_create(name=VENUE_NAME, address="1 Stadium Way")
            self.count("venues")
        if not Seat.objects.filter(row__section__venue=venue).exists():
            layout.venue_layout_set(venue=venue, sections=seat_layout(seats))
            self.count("seats", seats)
        return venue

    def event(self, title: str, **fields) -> Event:
        event = Event.objects.filter(title=title).order_by("pk").first()
        if event is None:
            event = event_create(title=title, **fields)
            self.count("events")
        return event

    def match(self, venue: Venue) -> Event:
        starts_at = timezone.now().replace(microsecond=0) + timedelta(days=3)
        match = self.event(MATCH_TITLE, status=Event.Status.PUBLISHED, venue=venue,
                           starts_at=starts_at, ends_at=starts_at + timedelta(hours=2),
                           description="A demo match with seats on sale.")
        if not SectionPrice.objects.filter(event=match).exists():
            sections = venue.sections.order_by("position")
            layout.event_prices_set(event=match, prices={
                section.pk: SECTION_PRICES[i % len(SECTION_PRICES)]
                for i, section in enumerate(sections)
            })
            self.count("price lists")
        if not EventSale.objects.filter(event=match).exists():
            layout.sale_configure(event=match, sale_starts_at=timezone.now() - timedelta(hours=1),
                                  sale_ends_at=match.starts_at - timedelta(hours=1))
            self.count("sales")
        return match

    def meetup(self, venue: Venue) -> Event:
        return self.event(MEETUP_TITLE, status=Event.Status.LIVE, venue=venue,
                          starts_at=timezone.now().replace(microsecond=0),
                          description="A demo meetup with a raffle, a lottery and an external "
                                      "draw on the venue screen.")

    def draws(self, meetup: Event) -> Draw:
        soon = timezone.now().replace(microsecond=0) + timedelta(minutes=5)
        specs = [
            (RAFFLE_TITLE, {"kind": Draw.Kind.RAFFLE, "scheduled_at": soon}, [
                {"name": "Signed match ball", "quantity": 1, "rank": 1},
                {"name": "Two match tickets", "quantity": 3, "rank": 2},
            ]),
            (LOTTERY_TITLE, {"kind": Draw.Kind.LOTTERY, "numbers_count": 5, "numbers_max": 36,
                             "max_ballots": 3}, [
                {"name": "Season ticket", "quantity": 1, "rank": 1, "matches": 5},
                {"name": "Team scarf", "quantity": 10, "rank": 2, "matches": 4},
            ]),
            (EXTERNAL_TITLE, {"kind": Draw.Kind.EXTERNAL}, [
                {"name": "Sponsor's hamper", "quantity": 2, "rank": 1},
            ]),
        ]
        # Newest last: the raffle a later run scheduled wins over the one it replaced.
        found = {draw.title: draw for draw in Draw.objects.filter(
            event=meetup, title__in=[title for title, _, _ in specs]).order_by("pk")}
        raffle = found.get(RAFFLE_TITLE)
        if raffle is not None and not self.watchable(raffle):
            # A newcomer's `make run` after the first one should see a countdown, not
            # "Drawn": the demo raffle is scheduled afresh whenever the last one is over.
            del found[RAFFLE_TITLE]
        for title, fields, prizes in specs:
            if title not in found:
                found[title] = draw_create(event=meetup, title=title, prizes=prizes,
                                           actor=None, source="demo", **fields)
                self.count("draws")
        return found[RAFFLE_TITLE]

    @staticmethod
    def watchable(raffle: Draw) -> bool:
        """Open and due at least a minute from now: a countdown to watch."""
        return (raffle.status == Draw.Status.OPEN and raffle.scheduled_at is not None
                and raffle.scheduled_at > timezone.now() + timedelta(minutes=1))

    def users(self, n: int) -> list[int]:
        """Ids of demo users 1..n (unusable passwords), created where missing, in number order."""
        demo = User.objects.filter(email__startswith=DEMO_USER_PREFIX,
                                   email__endswith=DEMO_USER_SUFFIX)
        ids = dict(demo.values_list("email", "id"))
        missing = [k for k in range(1, n + 1) if demo_email(k) not in ids]
        now, unusable = timezone.now(), make_password(None)  # one random unusable hash is enough
        progress = self.progress("users", len(missing))
        bulk = len(missing) > self.bulk_threshold
        for start in range(0, len(missing), CHUNK):
            batch = [User(email=demo_email(k), first_name=f"Demo {k}", email_verified_at=now,
                          password=unusable) for k in missing[start:start + CHUNK]]
            if bulk:  # no post_save: the Redis ranking is rebuilt once at the end
                User.objects.bulk_create(batch)
                self.bulk_users = True
            else:
                for user in batch:
                    user.save()
            progress.advance(len(batch))
        self.count("users", len(missing))
        if missing:
            ids = dict(demo.values_list("email", "id"))
        return [ids[demo_email(k)] for k in range(1, n + 1)]

    def first_users(self, ids: list[int], n: int) -> list[User]:
        by_id = User.objects.in_bulk(ids[:n])
        return [by_id[pk] for pk in ids[:n]]

    def referrals(self, users: list[User]) -> None:
        """Every third demo user k is referred by demo user k // 3 (3 by 1, 6 by 2, ...)."""
        for k in range(3, len(users) + 1, 3):
            user = users[k - 1]
            if user.referred_by_id is None:
                waitlist.referral_attach(user=user, referrer=users[k // 3 - 1])
                waitlist.referral_count_if_eligible(user=user)
                self.count("referrals")

    def wallets(self, users: list[User]) -> None:
        funded = set(Wallet.objects.filter(user__in=users).values_list("user_id", flat=True))
        for user in users:
            if user.pk not in funded:
                # Seed money, not a payment: the demo provider refuses to work with
                # DEBUG off, and benchmarks seed with DEBUG off.
                wallets.wallet_credit(user=user, amount=TOP_UP, reference="demo top-up",
                                      actor=None)
                self.count("wallet top-ups")

    def entries(self, raffle: Draw, user_ids: list[int]) -> None:
        entered = set(Entry.objects.filter(draw=raffle).values_list("user_id", flat=True))
        missing = [pk for pk in user_ids if pk not in entered]
        if not missing:
            return
        if raffle.status != Draw.Status.OPEN:
            self.stdout.write(f"The demo raffle is {raffle.status}; no entries added.")
            return
        progress = self.progress("entries", len(missing))
        if len(missing) <= self.bulk_threshold:
            users = User.objects.in_bulk(missing)
            for pk in missing:
                draw_enter(draw=raffle, user=users[pk])
                progress.advance(1)
        else:  # same lock, positions and count as draw_enter; one event per chunk
            for start in range(0, len(missing), CHUNK):
                draw_enter_many(draw=raffle, user_ids=missing[start:start + CHUNK])
                progress.advance(len(missing[start:start + CHUNK]))
        self.count("raffle entries", len(missing))

    def screen_key(self, meetup: Event, staff: User) -> str | None:
        if ScreenKey.objects.filter(event=meetup, label=SCREEN_LABEL,
                                    revoked_at__isnull=True).exists():
            return None
        _, key = screen_key_issue(event=meetup, actor=staff, label=SCREEN_LABEL)
        self.count("screen keys")
        return key

    # --- output --------------------------------------------------------------

    def progress(self, label: str, total: int) -> Progress:
        enabled = total > 0 and (total >= self.progress_threshold or self.stdout.isatty())
        return Progress(self.stdout, label, total, enabled)

    def report(self, meetup: Event, key: str | None) -> None:
        if self.created:
            made = ", ".join(f"{n:,} {what}" for what, n in self.created.items())
            self.stdout.write(f"Created {made}.")
        else:
            self.stdout.write("Demo data already present; nothing created.")
        self.stdout.write(f"Demo staff login {DEMO_STAFF_EMAIL} / {DEMO_PASSWORD}")
        self.stdout.write(f"Demo attendee login {DEMO_ATTENDEE_EMAIL} / {DEMO_PASSWORD}")
        if key:
            self.stdout.write(
                f"Venue screen (key shown once): /screen/events/{meetup.pk}/?key={key}")
        else:
            self.stdout.write(f"Venue screen: /screen/events/{meetup.pk}/ (key printed when first "
                              "created; issue another from the events admin)")
