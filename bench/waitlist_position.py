"""Waitlist position lookup at scale: Redis sorted set vs indexed SQL count.

Fills a PostgreSQL database with N users (default 1,000,000) by COPY, builds
the Redis ranking, then times the same sampled position lookups through both
paths in one run and checks that they agree.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tombola_bench_waitlist \
    REDIS_URL=redis://127.0.0.1:6379/3 REDIS_PREFIX=tombola-bench-waitlist \
    python bench/waitlist_position.py [--users 1000000] [--samples 2000]
        [--sql-samples 200] [--refill]

An already filled database with the same number of users is reused (pass
--refill to start over). Refuses to touch a database whose name lacks "bench".
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "core.settings")

import django

django.setup()

from _common import emit_result, row  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from core import ranking  # noqa: E402
from core.models import REFERRAL_ALPHABET, REFERRAL_CODE_LENGTH, User  # noqa: E402
from core.selectors.waitlist import standing_redis, standing_sql  # noqa: E402
from core.services.waitlist import ranking_index_rebuild  # noqa: E402

COLUMNS = (
    "id", "password", "is_superuser", "email", "email_canonical", "email_mailbox",
    "first_name", "last_name", "patronymic", "address", "referral_code", "referral_count",
    "is_staff", "is_active", "date_joined",
)


def code_for(number: int) -> str:
    """A unique referral code per user number (base-31 in the referral alphabet)."""
    digits = []
    for _ in range(REFERRAL_CODE_LENGTH):
        number, digit = divmod(number, len(REFERRAL_ALPHABET))
        digits.append(REFERRAL_ALPHABET[digit])
    return "".join(reversed(digits))


def referrals_for(rng: random.Random) -> int:
    # Most members refer nobody; a few refer many (a long tail, with many ties).
    if rng.random() < 0.8:
        return 0
    return min(int(rng.paretovariate(1.2)), 5000)


def fill(users: int) -> None:
    rng = random.Random(42)
    start = datetime.now(UTC) - timedelta(days=3 * 365)
    step = timedelta(days=3 * 365) / users
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE core_user RESTART IDENTITY CASCADE")
        copy_sql = f"COPY core_user ({', '.join(COLUMNS)}) FROM STDIN"
        with cursor.cursor.copy(copy_sql) as copy:
            for number in range(1, users + 1):
                email = f"u{number}@bench.invalid"  # already in every canonical form
                copy.write_row((
                    number, "!", False, email, email, email, "", "", "", "",
                    code_for(number), referrals_for(rng), False, True, start + step * number,
                ))
                if number % 200_000 == 0:
                    print(f"  copied {number:,} users ({time.perf_counter() - started:.0f}s)")
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence('core_user', 'id'),"
            " (SELECT max(id) FROM core_user))"
        )
    print(f"  COPY done in {time.perf_counter() - started:.1f}s; VACUUM ANALYZE ...")
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE core_user")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def summary(name: str, millis: list[float]) -> str:
    return (
        f"{name:<24} p50 {percentile(millis, 0.50):8.3f} ms"
        f"   p99 {percentile(millis, 0.99):8.3f} ms   mean {statistics.fmean(millis):8.3f} ms"
    )


def timed(fn, *args) -> tuple[float, object]:
    started = time.perf_counter()
    result = fn(*args)
    return (time.perf_counter() - started) * 1000, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=2000, help="lookups through Redis")
    parser.add_argument(
        "--sql-samples", type=int, default=200, help="of those, how many also through SQL"
    )
    parser.add_argument("--refill", action="store_true", help="refill even if already filled")
    args = parser.parse_args()

    if not settings.USING_POSTGRES or not settings.REDIS_URL:
        sys.exit("needs DATABASE_URL=postgres://... and REDIS_URL=redis://...")
    if "bench" not in settings.DATABASES["default"]["NAME"]:
        sys.exit("refusing: the database name must contain 'bench' (this script truncates users)")

    call_command("migrate", verbosity=0)
    current = ranking.current()
    count = User.objects.count()
    if args.refill or count != args.users:
        print(f"Filling {args.users:,} users (found {count:,}) ...")
        fill(args.users)
    else:
        print(f"Reusing {count:,} users already in {settings.DATABASES['default']['NAME']}")

    started = time.perf_counter()
    ranked = ranking_index_rebuild(chunk_size=50_000)  # also after a Redis restart
    print(f"Redis ranking '{current.redis_name}' built: {ranked:,} users in "
          f"{time.perf_counter() - started:.1f}s")

    rng = random.Random(7)
    ids = rng.sample(range(1, args.users + 1), args.samples)
    users = list(User.objects.in_bulk(ids).values())
    # Warm both paths (connections, plans, caches) before measuring.
    for user in users[:20]:
        standing_redis(user, current)
        standing_sql(user, current)

    redis_ms, sql_ms, sql_position_ms = [], [], []
    for index, user in enumerate(users):
        elapsed, via_redis = timed(standing_redis, user, current)
        redis_ms.append(elapsed)
        if index >= args.sql_samples:
            continue
        elapsed, via_sql = timed(standing_sql, user, current)
        sql_ms.append(elapsed)
        elapsed, _ = timed(ranking.count_ahead, ranking.Entry.of(user), current)
        sql_position_ms.append(elapsed)
        assert via_redis == via_sql, (user.pk, via_redis, via_sql)

    print(f"\nRanking '{current.redis_name}', {ranked:,} ranked users: {len(redis_ms)} lookups"
          f" through Redis, the first {len(sql_ms)} of them also through SQL (same answers)")
    print(summary("Redis (position+total)", redis_ms))
    print(summary("SQL (position+total)", sql_ms))
    print(summary("SQL (position only)", sql_position_ms))
    ratio_p50 = percentile(sql_ms, 0.5) / percentile(redis_ms, 0.5)
    ratio_p99 = percentile(sql_ms, 0.99) / percentile(redis_ms, 0.99)
    print(f"SQL/Redis ratio: p50 x{ratio_p50:.0f}, p99 x{ratio_p99:.0f}")
    redis_p99 = percentile(redis_ms, 0.99)
    target = redis_p99 < 5
    print(f"Target Redis p99 < 5 ms: {'met' if target else 'NOT met'}")
    emit_result(
        "waitlist_position",
        [row(f"waitlist position p99 at {ranked:,} users (Redis)",
             f"{redis_p99:.2f} ms (p50 {percentile(redis_ms, 0.5):.2f} ms)",
             target="< 5 ms", met=target,
             baseline=f"SQL count p99 {percentile(sql_ms, 0.99):.0f} ms",
             ratio=f"SQL {ratio_p99:.0f}x slower")],
        users=ranked, samples=len(redis_ms), sql_samples=len(sql_ms),
        redis_p50_ms=percentile(redis_ms, 0.5), redis_p99_ms=redis_p99,
        sql_p50_ms=percentile(sql_ms, 0.5), sql_p99_ms=percentile(sql_ms, 0.99),
        ratio_p50=ratio_p50, ratio_p99=ratio_p99,
    )


if __name__ == "__main__":
    main()
