"""Public waitlist statistics: headline figures and a registrations/referrals chart.

Counts follow the waitlist's definition of who is registered
(core.ranking.ranked_users: active, non-staff). Answers are cached for
settings.STATS_CACHE_SECONDS (default 30): they are public and cheap to
serve stale for a few seconds, and the chart groups the whole user table.

Chart buckets (start of each bucket, in settings.TIME_ZONE, oldest first):

=======  ===========================================================
period   buckets
=======  ===========================================================
ytd      months from January of this year to the current month
1y       the last 12 months, the current one included
3y       the last 36 months
5y       the last 20 quarters
10y      the last 40 quarters
all      from the first signup: months if that spans at most 36 of
         them, quarters if at most 40, else years
=======  ===========================================================
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, Min, Q
from django.db.models.functions import TruncMonth, TruncQuarter, TruncYear
from django.utils import timezone

from core.models import User
from core.ranking import ranked_users
from core.replica import replica_reads

PERIODS = ("ytd", "1y", "3y", "5y", "10y", "all")
_STEP_MONTHS = {"month": 1, "quarter": 3, "year": 12}
_TRUNC = {"month": TruncMonth, "quarter": TruncQuarter, "year": TruncYear}
_FIXED = {"1y": ("month", 12), "3y": ("month", 36), "5y": ("quarter", 20), "10y": ("quarter", 40)}


def _cache_seconds() -> int:
    return settings.STATS_CACHE_SECONDS


def waitlist_stats() -> list[dict]:
    """[{key, label, value}, ...] in display order; one query, cached briefly."""
    cached = cache.get("waitlist:stats")
    if cached is not None:
        return cached
    week_ago = timezone.now() - timedelta(days=7)
    verified = Q(phone_verified_at__isnull=False) | Q(email_verified_at__isnull=False)
    with replica_reads():  # read-only counts over every user: the replica's work
        figures = ranked_users().aggregate(
            total_registered=Count("id"),
            verified=Count("id", filter=verified),
            phone_verified=Count("id", filter=Q(phone_verified_at__isnull=False)),
            referrers=Count("id", filter=Q(referral_count__gt=0)),
            joined_last_7_days=Count("id", filter=Q(date_joined__gte=week_ago)),
        )
        referrals = User.objects.aggregate(
            referrals=Count("id", filter=Q(referral_counted_at__isnull=False)),
            pending_referrals=Count(
                "id", filter=Q(referred_by__isnull=False, referral_counted_at__isnull=True)
            ),
        )
    figures.update(referrals)
    labels = [
        ("total_registered", "Total registered"),
        ("verified", "Verified (phone or email)"),
        ("phone_verified", "Phone verified"),
        ("referrals", "Referrals counted"),
        ("pending_referrals", "Referrals awaiting verification"),
        ("referrers", "Members who referred someone"),
        ("joined_last_7_days", "Joined in the last 7 days"),
    ]
    result = [{"key": k, "label": label, "value": figures[k]} for k, label in labels]
    cache.set("waitlist:stats", result, _cache_seconds())
    return result


def _add_months(moment: datetime, months: int) -> datetime:
    index = moment.year * 12 + moment.month - 1 + months
    return moment.replace(year=index // 12, month=index % 12 + 1)


def _bucket_start(moment: datetime, unit: str) -> datetime:
    local = timezone.localtime(moment)
    month = local.month - (local.month - 1) % _STEP_MONTHS[unit] if unit != "year" else 1
    naive = datetime(local.year, month, 1)
    return timezone.make_aware(naive)


def _months_between(start: datetime, end: datetime) -> int:
    return (end.year - start.year) * 12 + end.month - start.month


def _buckets(period: str, now: datetime) -> tuple[str, list[datetime]]:
    if period in _FIXED:
        unit, count = _FIXED[period]
    elif period == "ytd":
        unit, count = "month", timezone.localtime(now).month
    else:
        first = ranked_users().aggregate(first=Min("date_joined"))["first"] or now
        span = _months_between(timezone.localtime(first), timezone.localtime(now))
        unit = "month" if span < 36 else "quarter" if span < 120 else "year"
        buckets_apart = _months_between(_bucket_start(first, unit), _bucket_start(now, unit))
        count = buckets_apart // _STEP_MONTHS[unit] + 1
    last = _bucket_start(now, unit)
    step = _STEP_MONTHS[unit]
    starts = [
        timezone.make_aware(_add_months(timezone.make_naive(last), -step * back))
        for back in range(count - 1, -1, -1)
    ]
    return unit, starts


def _counts(queryset, field: str, unit: str, since: datetime) -> dict[int, int]:
    rows = (
        queryset.filter(**{f"{field}__gte": since})
        .annotate(bucket=_TRUNC[unit](field, tzinfo=timezone.get_current_timezone()))
        .values("bucket")
        .annotate(n=Count("id"))
        .values_list("bucket", "n")
    )
    return {int(bucket.timestamp()): n for bucket, n in rows}


def registration_chart(period: str, now: datetime | None = None) -> dict:
    """{period, bucket, labels: [unix seconds], series: {registrations, referrals}}."""
    if period not in PERIODS:
        raise ValueError(period)
    cache_key = f"waitlist:chart:{period}"
    if now is None and (cached := cache.get(cache_key)) is not None:
        return cached
    unit, starts = _buckets(period, now or timezone.now())
    labels = [int(start.timestamp()) for start in starts]
    with replica_reads():
        registrations = _counts(ranked_users(), "date_joined", unit, starts[0])
        referrals = _counts(User.objects.all(), "referral_counted_at", unit, starts[0])
    result = {
        "period": period,
        "bucket": unit,
        "labels": labels,
        "series": {
            "registrations": [registrations.get(label, 0) for label in labels],
            "referrals": [referrals.get(label, 0) for label in labels],
        },
    }
    if now is None:
        cache.set(cache_key, result, _cache_seconds())
    return result
