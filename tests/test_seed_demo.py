"""manage.py seed_demo: the quick start's demo data, idempotent, and fast in bulk."""

import re
from datetime import timedelta
from io import StringIO

import pytest
from django.apps import apps
from django.core.management import call_command
from django.utils import timezone

from core.models import Event, User
from demo.management.commands import seed_demo
from live.models import Draw, Entry, ScreenKey
from live.selectors import screen_key_valid
from ticketing.models import EventSale, Seat, SectionPrice, Wallet

pytestmark = pytest.mark.django_db

SCREEN_URL = re.compile(r"/screen/events/(\d+)/\?key=(\S+)")


def seed(**options) -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out, **options)
    return out.getvalue()


def model_counts() -> dict[str, int]:
    return {m._meta.label: m.objects.count() for m in apps.get_models()
            if not m._meta.proxy and m._meta.managed}


def demo_users():
    return User.objects.filter(email__startswith="demo-user-")


def raffle() -> Draw:
    """The demo raffle a newcomer watches: the newest one."""
    return Draw.objects.filter(title=seed_demo.RAFFLE_TITLE).latest("pk")


def assert_gapless(draw: Draw, expected: int) -> None:
    positions = list(Entry.objects.filter(draw=draw).order_by("position")
                     .values_list("position", flat=True))
    assert positions == list(range(1, expected + 1))
    draw.refresh_from_db()
    assert draw.entries_count == expected


def test_counts_match_the_options():
    seed(users=12, seats=37, entries=7)

    assert demo_users().count() == 12
    assert Seat.objects.filter(row__section__venue__name="Central Stadium").count() == 37
    assert_gapless(raffle(), 7)
    meetup = Event.objects.get(title=seed_demo.MEETUP_TITLE)
    assert meetup.status == Event.Status.LIVE
    assert set(meetup.draws.values_list("kind", flat=True)) == {"raffle", "lottery", "external"}
    assert all(draw.prizes.exists() for draw in meetup.draws.all())
    assert raffle().scheduled_at is not None


def test_match_is_published_with_prices_for_every_section_and_a_sale_window():
    seed(users=0, seats=40)

    match = Event.objects.get(title=seed_demo.MATCH_TITLE)
    assert match.status == Event.Status.PUBLISHED
    assert SectionPrice.objects.filter(event=match).count() == match.venue.sections.count() == 4
    sale = EventSale.objects.get(event=match)
    assert sale.sale_starts_at < sale.sale_ends_at < match.starts_at


def test_second_run_creates_nothing():
    seed(users=9, seats=30)
    before = model_counts()

    out = seed(users=9, seats=30)

    assert model_counts() == before
    assert "nothing created" in out
    assert "?key=" not in out


def test_second_run_with_more_users_adds_only_the_missing_ones_and_their_entries():
    seed(users=5, seats=20)
    seed(users=8, seats=20)

    assert demo_users().count() == 8
    assert_gapless(raffle(), 8)


def test_referrals_are_counted_for_their_referrers():
    seed(users=9, seats=10)

    first = User.objects.get(email=seed_demo.demo_email(1))
    referred = User.objects.filter(email=seed_demo.demo_email(3)).get()
    assert referred.referred_by == first and referred.referral_counted_at is not None
    assert first.referral_count == 1  # user 3
    assert User.objects.get(email=seed_demo.demo_email(2)).referral_count == 1  # user 6
    assert demo_users().filter(referred_by__isnull=False).count() == 3


def test_wallets_are_funded_through_the_ledger():
    seed(users=4, seats=10)

    wallets = Wallet.objects.filter(user__email__startswith="demo-user-")
    assert wallets.count() == 4
    for wallet in wallets:
        assert wallet.balance == seed_demo.TOP_UP
        assert wallet.transactions.get().balance_after == seed_demo.TOP_UP
    assert Wallet.objects.get(user__email=seed_demo.DEMO_ATTENDEE_EMAIL).balance == seed_demo.TOP_UP


def test_known_logins_have_the_demo_password_and_the_rest_none():
    out = seed(users=3, seats=10)

    assert "alice@tombola.local / tombola-demo" in out
    assert User.objects.get(email=seed_demo.DEMO_ATTENDEE_EMAIL).check_password("tombola-demo")
    assert not any(user.has_usable_password() for user in demo_users())


def test_printed_screen_key_opens_the_meetup_screen():
    out = seed(users=1, seats=10)

    event_id, key = SCREEN_URL.search(out).groups()
    assert int(event_id) == Event.objects.get(title=seed_demo.MEETUP_TITLE).pk
    assert screen_key_valid(int(event_id), key)
    assert ScreenKey.objects.filter(event_id=event_id).count() == 1


def test_bulk_entries_keep_positions_gapless_after_service_entries():
    seed(users=3, seats=10)  # three entries through draw_enter

    seed(users=30, seats=10, bulk_threshold=5)  # 27 more in bulk

    assert_gapless(raffle(), 30)
    assert Entry.objects.filter(draw=raffle()).values("user").distinct().count() == 30


def test_progress_bar_is_shown_for_large_counts_only():
    quiet = seed(users=5, seats=10)
    loud = seed(users=20, seats=10, bulk_threshold=5, progress_threshold=10)

    assert "\r" not in quiet
    assert "users [" in loud and "15/15" in loud
    assert "entries [" in loud


def test_entries_above_users_is_refused():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        seed(users=2, entries=3)
    assert not demo_users().exists()


def test_seeded_database_passes_verify_audit():
    seed(users=6, seats=10)

    out = StringIO()
    call_command("verify_audit", stdout=out)

    assert "Audit chain intact" in out.getvalue()


def test_a_later_run_schedules_a_fresh_raffle_once_the_last_one_is_drawn():
    seed(users=4, seats=10)
    first = raffle()
    Draw.objects.filter(pk=first.pk).update(status=Draw.Status.PERFORMED)

    out = seed(users=4, seats=10)

    fresh = raffle()
    assert fresh.pk != first.pk and "1 draws" in out
    assert fresh.status == Draw.Status.OPEN
    assert fresh.scheduled_at > timezone.now() + timedelta(minutes=4)
    assert_gapless(fresh, 4)  # the demo users are in it, so it has winners to show
    assert "nothing created" in seed(users=4, seats=10)  # still watchable: no third one


def test_a_raffle_whose_time_has_passed_is_replaced_too():
    seed(users=2, seats=10)
    first = raffle()
    Draw.objects.filter(pk=first.pk).update(scheduled_at=timezone.now() + timedelta(seconds=20))

    seed(users=2, seats=10)

    assert raffle().pk != first.pk
    assert Draw.objects.filter(title=seed_demo.RAFFLE_TITLE).count() == 2
