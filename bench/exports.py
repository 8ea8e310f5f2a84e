"""Export 100,000 participants of a draw as CSV and as Excel; print time and peak memory.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tombola_bench_tools \
        /work/main/.venv/bin/python bench/exports.py [--rows 100000]

Creates the database if needed and migrates it; users and entries are filled in SQL
(the helpers of bench/draw_perform.py). The figures are the wall time to produce the
whole response body (live.exports.participants_export, consumed chunk by chunk as a
server would send it) and, in a second pass, its peak Python memory (tracemalloc), plus the
process RSS around the timed pass.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/tombola_bench_tools")
sys.path.insert(0, str(ROOT))

from _common import emit_result, row, setup_django  # noqa: E402
from draw_perform import fill_entries, fill_users, rss_mib  # noqa: E402

FLAT_MIB = 16  # a body held whole would grow with the rows: 100,000 CSV rows are 7.8 MiB


def consume(response) -> int:
    size = 0
    for chunk in response.streaming_content:
        size += len(chunk)
    response.close()
    return size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()

    setup_django()
    from live.exports import participants_export
    from live.models import Entry
    from tests.factories import make_draw, make_event
    fill_users(args.rows)
    draw = make_draw(make_event(title="Export benchmark"), title="Export bench")
    started = time.perf_counter()
    fill_entries(draw, args.rows)
    print(f"{args.rows:,} entries filled in {time.perf_counter() - started:.1f} s")
    rows, figures = [], {}
    try:
        for fmt in ("csv", "xlsx"):
            # Timed without tracemalloc (it slows Python several times), then measured with it.
            rss_before = rss_mib()
            started = time.perf_counter()
            size = consume(participants_export(draw=draw, fmt=fmt))
            elapsed = time.perf_counter() - started
            rss_after = rss_mib()
            tracemalloc.start()
            consume(participants_export(draw=draw, fmt=fmt))
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            print(f"{fmt}: {args.rows:,} rows, {size / 2**20:.1f} MiB in {elapsed:.2f} s; "
                  f"peak Python memory {peak / 2**20:.2f} MiB; "
                  f"RSS {rss_before:.0f} -> {rss_after:.0f} MiB")
            # Streamed: memory is one chunk of rows (2,000) plus, for Excel, the 4 MiB
            # in-memory part of the spooled file, whatever the number of rows.
            peak_mib, size_mib = peak / 2**20, size / 2**20
            rows.append(row(
                f"export {args.rows:,} participants ({fmt})",
                f"{elapsed:.2f} s, peak Python memory {peak_mib:.2f} MiB",
                target=f"streamed: peak < {FLAT_MIB} MiB", met=peak_mib < FLAT_MIB,
                baseline=f"body {size_mib:.1f} MiB", ratio=f"peak/body {peak_mib / size_mib:.2f}"))
            figures[fmt] = {"seconds": elapsed, "peak_python_mib": peak_mib,
                            "body_mib": size_mib}
    finally:
        Entry.objects.filter(draw=draw)._raw_delete(using="default")
    emit_result("exports", rows, rows_exported=args.rows, **figures)


if __name__ == "__main__":
    main()
