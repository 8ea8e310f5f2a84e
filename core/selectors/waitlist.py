"""Referral waitlist reads. Positions are computed live, never stored.

Two paths, one answer (core/ranking.py defines the order):

- Redis configured and its index ready: ZRANK in the sorted set, O(log n).
- Otherwise, or when the asker's own entry in the set disagrees with the
  database (the set is stale): an indexed SQL count of the users ahead.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.db.models import QuerySet

from core import ranking
from core.emails import email_canonical, email_masked
from core.errors import RankingEntryStale, RankingIndexNotReady, RankingIndexUnavailable
from core.models import User
from core.redis import get_redis
from core.replica import replica_reads

# Reads repair the Redis index they depend on (rebuild when lost, fix the
# asker's stale entry); that maintenance lives with the other index writes.
from core.services import waitlist as index_maintenance

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Standing:
    position: int | None  # None: the account is not ranked (staff, inactive)
    total: int


def standing_sql(user: User, current: ranking.Ranking | None = None) -> Standing:
    current = current or ranking.current()
    # COUNTs over every user (hundreds of ms at a million): the replica's work.
    with replica_reads():
        total = ranking.ranked_users().count()
        if not ranking.is_ranked(user):
            return Standing(None, total)
        return Standing(ranking.count_ahead(ranking.Entry.of(user), current) + 1, total)


def standing_redis(user: User, current: ranking.Ranking | None = None) -> Standing:
    """Raises RankingIndexUnavailable when the set cannot be trusted for this answer."""
    client = get_redis()
    if client is None:
        raise RankingIndexNotReady("Redis is not configured")
    current = current or ranking.current()
    keys = ranking.redis_keys(current)
    entry = ranking.Entry.of(user)
    member = ranking.redis_member(entry)
    try:
        pipe = client.pipeline(transaction=True)
        pipe.get(keys.ready).zscore(keys.live, member).zrank(keys.live, member).zcard(keys.live)
        ready, score, rank, total = pipe.execute()
    except Exception as exc:
        logger.warning("waitlist ranking: Redis unreachable (%s); answering from SQL", exc)
        raise RankingIndexUnavailable("Redis unreachable") from exc
    if ready != current.redis_name:
        raise RankingIndexNotReady("index not ready")
    if not ranking.is_ranked(user):
        if score is not None:
            raise RankingEntryStale("an unranked user is in the set")
        return Standing(None, total)
    if score is None or int(score) != ranking.redis_score(entry, current):
        raise RankingEntryStale("the user's entry is stale")
    return Standing(rank + 1, total)


def waitlist_standing(user: User) -> Standing:
    """The user's standing through Redis when it can answer, else through SQL.

    A missing index is rebuilt inline when the waitlist is small (else logged);
    a stale entry of the asker is repaired. Either way this answer is from SQL.
    """
    current = ranking.current()
    try:
        return standing_redis(user, current)
    except RankingIndexNotReady:
        if get_redis() is not None:
            index_maintenance.ranking_index_ensure()
    except RankingEntryStale:
        index_maintenance.ranking_entry_sync(user_id=user.pk, exact=True)
    except RankingIndexUnavailable:
        pass
    return standing_sql(user, current)


def waitlist_position(user: User) -> int | None:
    """1-based position on the waitlist (None for staff and inactive accounts)."""
    return waitlist_standing(user).position


def waitlist_block(user: User) -> dict:
    """The block every waitlist answer carries.

    {referral_code, referral_count, wait_list_position, total_registered}
    """
    user.refresh_from_db(
        fields=["referral_count", "date_joined", "is_active", "is_staff", "referral_code"]
    )
    standing = waitlist_standing(user)
    return {
        "referral_code": user.referral_code,
        "referral_count": user.referral_count,
        "wait_list_position": standing.position,
        "total_registered": standing.total,
    }


def user_for_lookup(*, email: str | None, code: str | None) -> User | None:
    """Staff lookup by email and/or referral code (both must match when both are given)."""
    queryset = User.objects.all()
    if email:
        queryset = queryset.filter(email_canonical=email_canonical(email))
    if code:
        queryset = queryset.filter(referral_code=code.strip().upper())
    return queryset.first()


def user_for_code(code: str) -> User | None:
    return User.objects.filter(referral_code=(code or "").strip().upper()).first()


def referrals_of(user: User) -> QuerySet[User]:
    """The accounts `user` referred, newest first (core.filters.ReferralFilters narrows)."""
    return (User.objects.filter(referred_by=user)
            .only("id", "email", "date_joined", "referral_counted_at", "phone_verified_at",
                  "email_verified_at", "referred_by_id")
            .order_by("-date_joined", "-id"))


def referral_line(referee: User) -> dict:
    """One referral as its referrer sees it: counted, or what it still waits for."""
    counted = referee.referral_counted_at is not None
    return {
        "referee": email_masked(referee.email),
        "joined_at": referee.date_joined,
        "status": "counted" if counted else "pending",
        "counted_at": referee.referral_counted_at,
        # A referral counts once the referee verified a phone or an email
        # (WAITLIST_REQUIRE_VERIFIED_REFERRAL): the usual reason a count stays 0.
        "waiting_for": None if counted or referee.is_verified else "referee_verification",
    }
