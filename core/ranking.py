"""Waitlist ranking: who is ranked, in what order, and how that order is encoded.

One definition, three renderings that must agree (tests/test_waitlist_ranking.py
checks all three on the same data for every mode):

- ``sort_key(...)``: the order as a plain Python tuple (the reference);
- ``ahead_filter(...)`` / ``count_ahead(...)``: a SQL filter for "ranked users ahead of this one";
- ``redis_member(...)`` / ``redis_score(...)``: a sorted-set entry whose
  position in the set (score, then member bytes) is the same order.

Who is ranked: active, non-staff accounts (``ranked_users()``), whether they
joined the waitlist with an email only or registered fully. Staff and
deactivated accounts have no position and are not in ``total_registered``.

Modes (settings.WAITLIST_RANKING):

- ``referrals`` (default): more counted referrals first; then earlier signup
  (``date_joined``), then lower id.
- ``signup``: earlier signup first (``date_joined``, then id).
- ``skip``: every account starts at its signup number (its id: ids are handed
  out in signup order) and each counted referral moves it
  ``K = WAITLIST_SKIP_PER_REFERRAL`` numbers forward. Order by ``id - K*r``;
  on a tie the one with more referrals goes first, so a referrer lands *ahead*
  of the account whose number it reached, i.e. it passes exactly K accounts
  when the ids in between are all ranked. (Ids of staff or deleted accounts
  are gaps: "places" are counted in signup numbers, not in ranked people.)

Redis encoding (see docs/decisions/2026-11-25-waitlist-ranking-encoding.md):
the member is ``<date_joined µs, 14 hex><id, 12 hex>``, fixed width, so equal
scores fall back to byte order = signup order; the score is a small exact
integer: ``-r`` (referrals), ``0`` (signup), ``(id - K*r) * 2**20 - r`` (skip).
Every score stays far inside the 2**53 range where doubles are exact integers.
A score only ever decreases for a given member (referrals are never
uncounted), which lets every writer use ``ZADD ... LT`` and stay monotonic
under races.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from django.core import checks
from django.db.models import F, Q, QuerySet

from core.errors import RankingConfigError
from core.models import User

MODES = ("referrals", "signup", "skip")

# Skip-mode score = (id - K*r) * SKIP_SCALE - r; r must stay below SKIP_SCALE
# and |id - K*r| below 2**32 so that |score| < 2**52 (exact in a double).
SKIP_SCALE = 2**20
MAX_EXACT = 2**53
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Ranking:
    mode: str
    skip: int

    @property
    def redis_name(self) -> str:
        """Part of the Redis key: a change of mode or K uses a different set."""
        return f"skip{self.skip}" if self.mode == "skip" else self.mode


@dataclass(frozen=True)
class Entry:
    """The fields the order depends on."""

    id: int
    date_joined: datetime
    referral_count: int

    @classmethod
    def of(cls, user: User) -> Entry:
        return cls(id=user.pk, date_joined=user.date_joined, referral_count=user.referral_count)


def current() -> Ranking:
    mode = settings.WAITLIST_RANKING
    if mode not in MODES:
        raise RankingConfigError(f"WAITLIST_RANKING must be one of {MODES}, not {mode!r}")
    skip = int(settings.WAITLIST_SKIP_PER_REFERRAL)
    if skip < 0:
        raise RankingConfigError("WAITLIST_SKIP_PER_REFERRAL must be >= 0")
    return Ranking(mode=mode, skip=skip)


@checks.register()
def check_ranking_settings(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """`manage.py check` (and every server start) refuses a bad ranking setting."""
    try:
        current()
    except (RankingConfigError, ValueError) as exc:
        return [checks.Error(str(exc), id="tombola.E101", obj="settings.WAITLIST_RANKING")]
    return []


def ranked_users() -> QuerySet[User]:
    """Everyone who holds a place on the waitlist."""
    return User.objects.filter(is_active=True, is_staff=False)


def is_ranked(user: User) -> bool:
    return user.is_active and not user.is_staff


def _micros(moment: datetime) -> int:
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def sort_key(entry: Entry, ranking: Ranking) -> tuple:
    """The reference order (smaller first)."""
    signup = (entry.date_joined, entry.id)
    if ranking.mode == "referrals":
        return (-entry.referral_count, *signup)
    if ranking.mode == "signup":
        return signup
    return (entry.id - ranking.skip * entry.referral_count, -entry.referral_count)


def ahead_filter(entry: Entry, ranking: Ranking) -> tuple[QuerySet[User], Q]:
    """(ranked queryset, filter) selecting the users strictly ahead of `entry`.

    referrals and signup compare the columns of user_waitlist_rank_idx and the
    date_joined index; skip compares an expression. Either way the count is
    O(users ahead) in SQL (a B-tree cannot count a range without walking it):
    that is what the Redis path is for (docs/performance.md).
    """
    queryset = ranked_users()
    r, joined, pk = entry.referral_count, entry.date_joined, entry.id
    earlier = Q(date_joined__lt=joined) | Q(date_joined=joined, id__lt=pk)
    if ranking.mode == "referrals":
        return queryset, Q(referral_count__gt=r) | (Q(referral_count=r) & earlier)
    if ranking.mode == "signup":
        return queryset, earlier
    target = pk - ranking.skip * r
    queryset = queryset.alias(skip_key=F("id") - ranking.skip * F("referral_count"))
    return queryset, Q(skip_key__lt=target) | Q(skip_key=target, referral_count__gt=r)


def count_ahead(entry: Entry, ranking: Ranking) -> int:
    """How many ranked users are ahead of `entry` (one COUNT query)."""
    queryset, ahead = ahead_filter(entry, ranking)
    return queryset.filter(ahead).count()


def redis_member(entry: Entry) -> str:
    micros = _micros(entry.date_joined)
    if not 0 <= micros < 16**14 or not 0 < entry.id < 16**12:
        raise RankingConfigError(f"user {entry.id}: date_joined or id outside the member encoding")
    return f"{micros:014x}{entry.id:012x}"


def redis_score(entry: Entry, ranking: Ranking) -> int:
    r = entry.referral_count
    if ranking.mode == "referrals":
        return -r
    if ranking.mode == "signup":
        return 0
    base = entry.id - ranking.skip * r
    if r >= SKIP_SCALE or abs(base) >= 2**32:
        raise RankingConfigError(f"user {entry.id}: skip score outside the exact range")
    score = base * SKIP_SCALE - r
    assert abs(score) < MAX_EXACT
    return score


@dataclass(frozen=True)
class RedisKeys:
    """Keys of the Redis ranking index (all under settings.REDIS_PREFIX).

    ``ready`` holds the name of the ranking whose set is complete and kept in
    step; a set is trusted only while ``ready`` names it. After a Redis restart
    (or a change of WAITLIST_RANKING) it names nothing or another ranking, so
    readers fall back to SQL until the set is rebuilt.
    """

    base: str
    ready: str
    live: str
    building_marker: str
    building: str
    lock: str


def _redis_base() -> str:
    from core.redis import key, tagged

    # One hash tag for every key of the ranking: the swap (RENAME building -> live,
    # SET ready) is one MULTI and the lookup reads ready and the set in one.
    return key("waitlist", tagged("rank"))


def redis_ready_key() -> str:
    return f"{_redis_base()}:ready"


def redis_keys(ranking: Ranking) -> RedisKeys:
    base = _redis_base()
    return RedisKeys(
        base=base,
        ready=redis_ready_key(),
        live=f"{base}:{ranking.redis_name}",
        building_marker=f"{base}:building",
        building=f"{base}:{ranking.redis_name}:building",
        lock=f"{base}:lock",
    )


def redis_live_key(keys: RedisKeys, name: str) -> str:
    return f"{keys.base}:{name}"
