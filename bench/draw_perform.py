"""Perform a raffle over 1,000,000 entries and print the time and peak memory.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tombola_bench_live \
        .venv/bin/python bench/draw_perform.py [--entries 1000000] [--runs 3]

Creates the database if needed and migrates it. Users and entries are filled in
SQL (generate_series), so filling takes seconds; the users are kept between runs.
The figure is the wall time of live.services.performing.draw_perform (close entries:
digest in SQL; pick winners: HMAC picks, rows fetched by position) and its peak Python
memory (tracemalloc), plus the process RSS before and after.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/tombola_bench_live"
os.environ.setdefault("DATABASE_URL", DEFAULT_URL)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "core.settings")

from _common import emit_result, row, setup_django  # noqa: E402


def rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def fill_users(n: int) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM core_user WHERE email LIKE 'bench-%%'")
        have = cursor.fetchone()[0]
        if have >= n:
            return
        cursor.execute(
            """
            INSERT INTO core_user (password, is_superuser, email, email_canonical,
                email_mailbox, first_name, last_name, patronymic, address, referral_code,
                referral_count, is_staff, is_active, date_joined)
            SELECT '!', false, 'bench-' || g || '@example.com', 'bench-' || g || '@example.com',
                   'bench-' || g || '@example.com', '', '', '', '',
                   'BN' || lpad(g::text, 12, '0'), 0, false, true, now()
            FROM generate_series(%s, %s) AS g
            """,
            [have + 1, n],
        )


def fill_entries(draw, n: int) -> None:
    from django.db import connection

    from live.models import Draw, Entry

    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {Entry._meta.db_table}
                (draw_id, user_id, ballot_no, numbers, position, created_at)
            SELECT %s, id, 1, '', row_number() OVER (ORDER BY id), now() FROM (
                SELECT id FROM core_user WHERE email LIKE 'bench-%%' ORDER BY id LIMIT %s) u
            """,  # noqa: S608 - our table name
            [draw.pk, n],
        )
    Draw.objects.filter(pk=draw.pk).update(entries_count=n)
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Entry._meta.db_table}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--prizes", type=int, default=10, help="prize units to draw")
    args = parser.parse_args()

    setup_django()
    from live.models import Entry, Winner
    from live.services.performing import draw_perform
    from tests.factories import make_draw, make_event
    started = time.perf_counter()
    fill_users(args.entries)
    print(f"users ready in {time.perf_counter() - started:.1f} s")
    prizes = [{"name": f"Prize {i}", "rank": i, "quantity": 1} for i in range(1, args.prizes + 1)]
    event = make_event(title="Benchmark")
    performs, scans, peaks = [], [], []
    for run in range(1, args.runs + 1):
        draw = make_draw(event, prizes=prizes, title=f"Bench {run}")
        started = time.perf_counter()
        fill_entries(draw, args.entries)
        fill_s = time.perf_counter() - started
        scans.append(count_scan(draw))
        rss_before = rss_mib()
        tracemalloc.start()
        started = time.perf_counter()
        draw_perform(draw=draw, actor=None, source="bench")
        perform_s = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(
            f"run {run}: {args.entries:,} entries filled in {fill_s:.1f} s; "
            f"perform {perform_s:.3f} s; peak Python memory {peak / 2**20:.2f} MiB; "
            f"RSS {rss_before:.0f} -> {rss_mib():.0f} MiB; "
            f"winners {draw.winners.count()}; baseline count(*) scan {scans[-1]:.3f} s"
        )
        performs.append(perform_s)
        peaks.append(peak / 2**20)
        # Keep the table at one draw's size between runs (raw delete: no Python loop).
        Winner.objects.filter(draw=draw).delete()
        Entry.objects.filter(draw=draw)._raw_delete(using="default")
    worst, scan = max(performs), min(scans)
    emit_result(
        "draw_perform",
        [row(f"draw perform, {args.entries:,} entries"
             + (f" (worst of {args.runs} runs)" if args.runs > 1 else ""),
             f"{worst:.3f} s, peak Python memory {max(peaks):.2f} MiB",
             target="< 2 s", met=worst < 2,
             baseline=f"one count(*) over the entries {scan:.3f} s",
             ratio=f"{worst / scan:.1f}x")],
        entries=args.entries, runs=args.runs, perform_s=performs, count_scan_s=scans,
        peak_python_mib=peaks,
    )


def count_scan(draw) -> float:
    """Baseline: the time PostgreSQL takes to read the draw's entries once (count(*))."""
    from django.db import connection

    from live.models import Entry

    with connection.cursor() as cursor:
        started = time.perf_counter()
        cursor.execute(f"SELECT count(*) FROM {Entry._meta.db_table} WHERE draw_id = %s",  # noqa: S608
                       [draw.pk])
        cursor.fetchone()
        return time.perf_counter() - started


if __name__ == "__main__":
    main()
