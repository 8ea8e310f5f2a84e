"""Ranking order in every mode, and the two paths (Redis sorted set, SQL count) agreeing."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.db import transaction

from core import ranking
from core.errors import (
    RankingConfigError,
    RankingEntryStale,
    RankingIndexNotReady,
    RankingRebuildInProgress,
)
from core.models import User
from core.redis import get_redis
from core.selectors.waitlist import (
    Standing,
    standing_redis,
    standing_sql,
    waitlist_block,
    waitlist_position,
)
from core.services.waitlist import (
    ranking_index_rebuild,
    referral_attach,
    referral_count_if_eligible,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def member(db):
    """A member with a chosen signup time and referral count (no password hashing: fast)."""

    def make(minute: int, referrals: int = 0, **fields) -> User:
        user = User(
            email=fields.pop("email", f"m{User.objects.count() + 1}-{minute}@example.com"),
            date_joined=T0 + timedelta(minutes=minute),
            referral_count=referrals,
            **fields,
        )
        user.set_unusable_password()
        user.save()
        return user

    return make


def positions(users, path=standing_sql):
    current = ranking.current()
    return [path(User.objects.get(pk=u.pk), current).position for u in users]


def reference_positions(users, current):
    ranked = [u for u in User.objects.all() if ranking.is_ranked(u)]
    order = sorted(ranked, key=lambda u: ranking.sort_key(ranking.Entry.of(u), current))
    index = {u.pk: i + 1 for i, u in enumerate(order)}
    return [index.get(u.pk) for u in users]


def test_referrals_mode_puts_more_referrals_first_and_earlier_signup_on_ties(member, settings):
    settings.WAITLIST_RANKING = "referrals"
    a, b, c, d = member(0), member(1, referrals=2), member(2, referrals=2), member(3, referrals=5)
    assert positions([a, b, c, d]) == [4, 2, 3, 1]


def test_signup_mode_ignores_referrals(member, settings):
    settings.WAITLIST_RANKING = "signup"
    a, b, c = member(0), member(1, referrals=9), member(2)
    assert positions([a, b, c]) == [1, 2, 3]


def test_equal_signup_times_are_ordered_by_id(member, settings):
    settings.WAITLIST_RANKING = "signup"
    a, b = member(5), member(5)
    assert positions([a, b]) == [1, 2]


def test_skip_mode_moves_a_member_k_places_up_per_referral(member, settings):
    settings.WAITLIST_RANKING = "skip"
    settings.WAITLIST_SKIP_PER_REFERRAL = 2
    users = [member(minute) for minute in range(6)]
    users[5].referral_count = 1  # 6th in signup order, one referral: 2 places up
    users[5].save()
    assert positions(users) == [1, 2, 3, 5, 6, 4]
    users[5].referral_count = 3  # 6 places up: to the front
    users[5].save()
    assert positions(users) == [2, 3, 4, 5, 6, 1]


def test_staff_and_inactive_accounts_are_not_ranked_nor_counted(member):
    a = member(0)
    staff = member(1, is_staff=True)
    gone = member(2, is_active=False)
    b = member(3)
    assert positions([a, staff, gone, b]) == [1, None, None, 2]
    assert waitlist_block(b)["total_registered"] == 2


def _random_members(member, count=40, seed=3):
    rng = random.Random(seed)
    users = []
    for _ in range(count):
        users.append(
            member(
                rng.choice([0, 1, 1, 2, 3, 5]),  # many equal signup times
                referrals=rng.choice([0, 0, 0, 1, 2, 7]),
                is_staff=rng.random() < 0.1,
                is_active=rng.random() > 0.05,
            )
        )
    return users


@pytest.mark.parametrize("mode", ranking.MODES)
def test_sql_path_matches_the_reference_order(member, settings, mode):
    settings.WAITLIST_RANKING = mode
    settings.WAITLIST_SKIP_PER_REFERRAL = 3
    users = _random_members(member)
    assert positions(users) == reference_positions(users, ranking.current())


@pytest.mark.redis
@pytest.mark.parametrize("mode", ranking.MODES)
def test_redis_and_sql_paths_give_identical_answers(member, settings, mode):
    settings.WAITLIST_RANKING = mode
    settings.WAITLIST_SKIP_PER_REFERRAL = 3
    users = _random_members(member)
    ranking_index_rebuild(chunk_size=7)
    current = ranking.current()
    for user in User.objects.all():
        assert standing_redis(user, current) == standing_sql(user, current), user.pk
    assert positions(users, standing_redis) == reference_positions(users, current)


def test_redis_encoding_orders_like_the_reference_for_every_mode():
    rng = random.Random(11)
    entries = [
        ranking.Entry(
            id=i, date_joined=T0 + timedelta(microseconds=rng.choice([0, 1, 999_999])),
            referral_count=rng.choice([0, 1, 2, 1000]),
        )
        for i in range(1, 300)
    ]
    for mode in ranking.MODES:
        current = ranking.Ranking(mode=mode, skip=4)
        by_reference = sorted(entries, key=lambda e: ranking.sort_key(e, current))
        by_redis = sorted(
            entries,
            key=lambda e: (ranking.redis_score(e, current), ranking.redis_member(e)),
        )
        assert by_redis == by_reference, mode


def test_skip_scores_stay_exact_doubles_at_the_limits():
    current = ranking.Ranking(mode="skip", skip=5)
    far = datetime(2200, 1, 1, tzinfo=UTC)
    big = ranking.Entry(id=2**32 - 1, date_joined=far, referral_count=0)
    busy = ranking.Entry(id=1, date_joined=far, referral_count=ranking.SKIP_SCALE - 1)
    for entry in (big, busy):
        score = ranking.redis_score(entry, current)
        assert abs(score) < 2**53 and float(score) == score
    neighbour = ranking.Entry(id=2**32 - 2, date_joined=far, referral_count=0)
    assert ranking.redis_score(neighbour, current) < ranking.redis_score(big, current)
    with pytest.raises(RankingConfigError):
        ranking.redis_score(ranking.Entry(2**33, far, 0), current)


def test_unknown_ranking_setting_is_refused(settings):
    settings.WAITLIST_RANKING = "vibes"
    with pytest.raises(RankingConfigError):
        ranking.current()
    assert [error.id for error in ranking.check_ranking_settings()] == ["tombola.E101"]


def test_valid_ranking_settings_pass_the_system_check(settings):
    settings.WAITLIST_RANKING = "skip"
    assert ranking.check_ranking_settings() == []


# --- counting referrals -----------------------------------------------------------


def test_referral_counts_only_after_the_referee_verifies(member, settings):
    settings.WAITLIST_REQUIRE_VERIFIED_REFERRAL = True
    referrer, friend = member(0), member(1)
    referral_attach(user=friend, referrer=referrer)
    assert referral_count_if_eligible(user=friend) is False
    referrer.refresh_from_db()
    assert referrer.referral_count == 0
    User.objects.filter(pk=friend.pk).update(email_verified_at=T0)
    assert referral_count_if_eligible(user=friend) is True
    assert referral_count_if_eligible(user=friend) is False  # exactly once
    referrer.refresh_from_db()
    assert referrer.referral_count == 1


def test_referral_counts_at_once_when_the_setting_is_off(member, settings):
    settings.WAITLIST_REQUIRE_VERIFIED_REFERRAL = False
    referrer, friend = member(0), member(1)
    referral_attach(user=friend, referrer=referrer)
    referrer.refresh_from_db()
    assert referrer.referral_count == 1
    assert referral_count_if_eligible(user=friend) is False


# --- the Redis index kept in step ---------------------------------------------------


def _verify_and_count(friend):
    User.objects.filter(pk=friend.pk).update(phone_verified_at=T0)
    referral_count_if_eligible(user=friend)


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_counted_referral_moves_the_referrer_in_redis_after_commit(member):
    first, referrer, friend = member(0), member(1), member(2)
    ranking_index_rebuild()
    referral_attach(user=friend, referrer=referrer)
    _verify_and_count(friend)
    referrer.refresh_from_db()
    assert standing_redis(referrer).position == 1  # straight from the set, no fallback
    assert standing_redis(User.objects.get(pk=first.pk)).position == 2


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_new_accounts_join_the_redis_set_after_commit(member):
    member(0)
    ranking_index_rebuild()
    late = member(1)
    assert standing_redis(late).position == 2
    assert standing_redis(late).total == 2


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_change_committed_during_a_rebuild_reaches_the_new_set(member):
    keys = ranking.redis_keys(ranking.current())
    client = get_redis()
    client.set(keys.building_marker, ranking.current().redis_name)  # a rebuild is running
    late = member(0, referrals=2)
    member_id = ranking.redis_member(ranking.Entry.of(late))
    assert client.zscore(keys.building, member_id) == -2
    assert client.zscore(keys.live, member_id) is None  # no ready set to write to


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_count_never_reaches_redis(member):
    _first, referrer, friend = member(0), member(1), member(2)
    ranking_index_rebuild()
    referral_attach(user=friend, referrer=referrer)
    with pytest.raises(RuntimeError), transaction.atomic():
        _verify_and_count(friend)
        raise RuntimeError("abort")
    referrer.refresh_from_db()
    assert referrer.referral_count == 0
    assert standing_redis(referrer).position == 2
    assert get_redis().zscore(ranking.redis_keys(ranking.current()).live,
                              ranking.redis_member(ranking.Entry.of(referrer))) == 0


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_staff_and_deleted_accounts_leave_the_redis_set(member):
    a, b, c = member(0), member(1), member(2)
    ranking_index_rebuild()
    a.is_staff = True
    a.save()
    c.delete()
    b.refresh_from_db()
    assert standing_redis(b) == Standing(position=1, total=1)


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_failed_index_update_stops_the_set_being_trusted(member, settings):
    settings.WAITLIST_RANKING = "skip"
    settings.WAITLIST_SKIP_PER_REFERRAL = 2**33  # a counted referral leaves the exact range
    first, referrer, friend = member(0), member(1), member(2)
    ranking_index_rebuild()
    referral_attach(user=friend, referrer=referrer)
    _verify_and_count(friend)  # the after-commit update fails and is logged
    assert get_redis().get(ranking.redis_ready_key()) is None
    referrer.refresh_from_db()
    assert [waitlist_position(u) for u in (first, referrer, friend)] == [2, 1, 3]


@pytest.mark.redis
def test_a_lost_index_still_answers_right_and_is_rebuilt_lazily(member):
    users = [member(0, referrals=1), member(1, referrals=4), member(2)]
    keys = ranking.redis_keys(ranking.current())
    ranking_index_rebuild()
    get_redis().delete(keys.ready, keys.live)  # what a Redis restart does
    with pytest.raises(RankingIndexNotReady):
        standing_redis(users[0])
    assert [waitlist_position(u) for u in users] == [2, 1, 3]
    assert get_redis().get(keys.ready) == "referrals"
    assert standing_redis(users[2]).position == 3


@pytest.mark.redis
def test_a_lost_index_above_the_lazy_limit_answers_from_sql(member, settings):
    settings.WAITLIST_LAZY_REBUILD_MAX = 1
    users = [member(0), member(1, referrals=1)]
    assert [waitlist_position(u) for u in users] == [2, 1]
    assert get_redis().get(ranking.redis_keys(ranking.current()).ready) is None


@pytest.mark.redis
def test_a_stale_entry_is_answered_from_sql_and_repaired(member):
    first, second = member(0), member(1)
    ranking_index_rebuild()
    # The count moved while Redis missed it (no hook ran: no commit in this test).
    User.objects.filter(pk=second.pk).update(referral_count=3)
    second.refresh_from_db()
    with pytest.raises(RankingEntryStale):
        standing_redis(second)
    assert waitlist_position(second) == 1
    assert standing_redis(second).position == 1  # repaired
    assert standing_redis(first).position == 2


@pytest.mark.redis
def test_changing_the_ranking_mode_rebuilds_for_the_new_mode(member, settings):
    a, b = member(0), member(1, referrals=2)
    ranking_index_rebuild()
    assert standing_redis(b).position == 1
    settings.WAITLIST_RANKING = "signup"
    with pytest.raises(RankingIndexNotReady):
        standing_redis(b)
    assert waitlist_position(b) == 2
    assert standing_redis(b).position == 2 and standing_redis(a).position == 1


@pytest.mark.redis
def test_an_unreachable_redis_falls_back_to_sql(member, settings):
    from core.redis import _client

    a, b = member(0), member(1, referrals=1)
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    try:
        assert [waitlist_position(a), waitlist_position(b)] == [2, 1]
    finally:
        _client.cache_clear()


@pytest.mark.redis
def test_rebuild_command_reports_progress(member, capsys):
    for minute in range(5):
        member(minute)
    call_command("rebuild_waitlist_ranking", "--chunk-size", "2")
    out = capsys.readouterr().out
    assert "2/5 users (40%)" in out and "5/5 users (100%)" in out
    assert "Ranked 5 users" in out
    assert get_redis().zcard(ranking.redis_keys(ranking.current()).live) == 5


@pytest.mark.redis
def test_rebuild_refuses_to_run_twice_at_once(member):
    member(0)
    get_redis().set(ranking.redis_keys(ranking.current()).lock, "someone-else")
    with pytest.raises(RankingRebuildInProgress):
        ranking_index_rebuild()


def test_rebuild_command_without_redis_fails_cleanly(db, settings):
    from django.core.management.base import CommandError

    settings.REDIS_URL = ""
    with pytest.raises(CommandError, match="REDIS_URL"):
        call_command("rebuild_waitlist_ranking")


@pytest.mark.parametrize(
    ("value", "expected"),
    [("0", [0]), ("1-4", [1, 4]), ("20+", [20]), (None, [0, 1, 4, 5, 20])],
)
def test_admin_referral_count_filter_selects_its_range(member, rf, value, expected):
    from core.admin import ReferralCountFilter, UserAdmin

    for minute, count in enumerate([0, 1, 4, 5, 20]):
        member(minute, referrals=count)
    params = {"referrals": value} if value else {}
    request = rf.get("/admin/core/user/", params)
    model_admin = UserAdmin(User, None)
    list_filter = ReferralCountFilter(request, request.GET.copy(), User, model_admin)
    found = list_filter.queryset(request, User.objects.order_by("referral_count"))
    assert [u.referral_count for u in found] == expected


def test_waitlist_block_reads_the_current_count_even_from_a_stale_instance(member, settings):
    settings.WAITLIST_REQUIRE_VERIFIED_REFERRAL = False
    member(0)
    referrer, friend = member(1), member(2)
    referral_attach(user=friend, referrer=referrer)  # `referrer` in memory still says 0
    block = waitlist_block(referrer)
    assert (block["referral_count"], block["wait_list_position"]) == (1, 1)
