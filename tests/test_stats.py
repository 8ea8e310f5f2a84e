"""Public stats: headline figures and the registrations/referrals chart."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.utils import timezone

from core.models import User
from core.selectors.stats import registration_chart

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.fixture
def member(db):
    def make(joined: datetime, **fields) -> User:
        user = User(email=f"s{User.objects.count() + 1}@example.com", date_joined=joined, **fields)
        user.set_unusable_password()
        user.save()
        return user

    return make


def stamp(year, month, day=1):
    return int(datetime(year, month, day, tzinfo=UTC).timestamp())


def test_stats_are_public_label_value_pairs(api, member, settings):
    settings.STATS_CACHE_SECONDS = 0
    referrer = member(timezone.now(), referral_count=1)
    member(timezone.now(), referred_by=referrer, referral_counted_at=timezone.now(),
           phone_verified_at=timezone.now())
    member(timezone.now(), referred_by=referrer)  # not verified yet: pending
    member(datetime(2020, 1, 1, tzinfo=UTC), email_verified_at=timezone.now())
    member(timezone.now(), is_staff=True)
    response = api.get("/api/stats")
    assert response.status_code == 200
    results = response.json()["results"]
    assert all(set(item) == {"key", "label", "value"} for item in results)
    values = {item["key"]: item["value"] for item in results}
    assert values == {
        "total_registered": 4,
        "verified": 2,
        "phone_verified": 1,
        "referrals": 1,
        "pending_referrals": 1,
        "referrers": 1,
        "joined_last_7_days": 3,
    }


def test_stats_are_cached_briefly(api, member, settings):
    settings.STATS_CACHE_SECONDS = 30
    member(timezone.now())
    first = api.get("/api/stats/").json()
    member(timezone.now())
    assert api.get("/api/stats/").json() == first


def test_chart_counts_registrations_and_referrals_per_month(member):
    referrer = member(datetime(2026, 1, 10, tzinfo=UTC))
    member(datetime(2026, 1, 31, 23, 59, tzinfo=UTC))
    member(datetime(2026, 11, 2, tzinfo=UTC), referred_by=referrer,
           referral_counted_at=datetime(2026, 11, 3, tzinfo=UTC))
    member(datetime(2025, 11, 30, tzinfo=UTC))  # before the 12 months: not shown
    member(datetime(2026, 5, 5, tzinfo=UTC), is_staff=True)  # not registered on the waitlist
    chart = registration_chart("1y", now=NOW)
    assert chart["bucket"] == "month"
    assert chart["labels"] == [stamp(2025, 12)] + [stamp(2026, m) for m in range(1, 12)]
    registrations = dict(zip(chart["labels"], chart["series"]["registrations"], strict=True))
    referrals = dict(zip(chart["labels"], chart["series"]["referrals"], strict=True))
    assert registrations[stamp(2026, 1)] == 2
    assert registrations[stamp(2026, 11)] == 1
    assert sum(registrations.values()) == 3
    assert referrals == {label: (1 if label == stamp(2026, 11) else 0) for label in chart["labels"]}


@pytest.mark.parametrize(
    ("period", "bucket", "count", "first"),
    [
        ("ytd", "month", 11, stamp(2026, 1)),
        ("1y", "month", 12, stamp(2025, 12)),
        ("3y", "month", 36, stamp(2023, 12)),
        ("5y", "quarter", 20, stamp(2022, 1)),
        ("10y", "quarter", 40, stamp(2017, 1)),
    ],
)
def test_chart_periods_have_fixed_buckets_oldest_first(db, period, bucket, count, first):
    chart = registration_chart(period, now=NOW)
    assert chart["bucket"] == bucket
    assert len(chart["labels"]) == count
    assert chart["labels"][0] == first
    assert chart["labels"] == sorted(chart["labels"])
    assert len(chart["series"]["registrations"]) == len(chart["series"]["referrals"]) == count


def test_chart_quarters_sum_their_months(member):
    member(datetime(2026, 7, 1, tzinfo=UTC))
    member(datetime(2026, 9, 30, tzinfo=UTC))
    chart = registration_chart("5y", now=NOW)
    assert chart["labels"][-2] == stamp(2026, 7)
    assert chart["series"]["registrations"][-2:] == [2, 0]


@pytest.mark.parametrize(
    ("first_signup", "bucket", "count"),
    [
        (datetime(2026, 3, 3, tzinfo=UTC), "month", 9),
        (datetime(2020, 3, 30, tzinfo=UTC), "quarter", 28),  # its quarter starts in January
        (datetime(2010, 6, 1, tzinfo=UTC), "year", 17),
    ],
)
def test_chart_all_spans_from_the_first_signup(member, first_signup, bucket, count):
    member(first_signup)
    chart = registration_chart("all", now=NOW)
    assert chart["bucket"] == bucket
    assert len(chart["labels"]) == count
    assert sum(chart["series"]["registrations"]) == 1


def test_chart_endpoint_answers_unix_seconds(api, member):
    member(timezone.now())
    response = api.get("/api/stats/chart/?period=ytd")
    assert response.status_code == 200
    body = response.json()
    assert set(body["series"]) == {"registrations", "referrals"}
    assert body["series"]["registrations"][-1] == 1
    assert all(isinstance(label, int) for label in body["labels"])


def test_chart_defaults_to_one_year(api, db):
    assert api.get("/api/stats/chart").json()["period"] == "1y"


@pytest.mark.parametrize("period", ["2y", "ALL", "month"])
def test_chart_rejects_an_unknown_period(api, db, period):
    response = api.get(f"/api/stats/chart/?period={period}")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert "period" in body["fields"]
