"""Read-only selectors on a real streaming replica against the primary, in one run (issue 18).

    python bench/replica_reads.py                  # 2,000 seats, 20,000 users, 200 reads each
    python bench/replica_reads.py --quick

Starts a replica of the local primary (scripts/pg_replica; stopped at the end), sets up a
venue, an event on sale with some seats held and sold, and users on the waitlist, then
times each selector the router may send to the replica (core/replica.py): the seat map's
database part, the waitlist counters, a position by SQL. Each is called `--reads` times
with the primary (no replica configured) and through `replica_reads()`, alternating, and
the cost of choosing the replica (the primary's WAL position + the replica's replay
position) on its own. Also: how far the replica trails while holds are being written
(the wait a fresh read pays), sampled during a burst of writes.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
DATABASE = "tombola_bench_replica"
os.environ.setdefault("DATABASE_URL", f"postgres://postgres@127.0.0.1:5432/{DATABASE}")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/8")
os.environ.setdefault("REDIS_PREFIX", "tombola-bench-replica")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "core.settings")

from _common import emit_result, ensure_database, percentile, row  # noqa: E402


def start_replica() -> tuple[str, int]:
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "pg_replica"), "start"],
                         check=True, capture_output=True, text=True).stdout
    found = dict(line.split("=", 1) for line in out.split() if "=" in line)
    return found["PG_REPLICA_DIR"], int(found["PG_REPLICA_PORT"])


def timed(fn, reads: int) -> list[float]:
    out = []
    for _ in range(reads):
        started = time.perf_counter()
        fn()
        out.append((time.perf_counter() - started) * 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seats", type=int, default=2_000)
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--reads", type=int, default=200)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.seats, args.users, args.reads = 500, 2_000, 50
    ensure_database(os.environ["DATABASE_URL"])
    subprocess.run([sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"], cwd=ROOT,
                   check=True)
    subprocess.run([sys.executable, "manage.py", "flush", "--no-input", "-v", "0"], cwd=ROOT,
                   check=True)
    where, port = start_replica()
    try:
        os.environ["DATABASE_REPLICA_URL"] = f"postgres://postgres@127.0.0.1:{port}/{DATABASE}"
        run(args)
    finally:
        subprocess.run([sys.executable, str(ROOT / "scripts" / "pg_replica"), "stop", where],
                       check=False)


def run(args) -> None:
    import django

    django.setup()
    from _common import flush_redis_prefix, funded_buyers, venue_with_seats
    from django.conf import settings
    from django.db import connections
    from request_path import new_event

    from core import replica
    from core.models import Event, User
    from core.selectors import stats, waitlist
    from ticketing import streams
    from ticketing.services import holds

    settings.REPLICA_MAX_WAIT_SECONDS = 5  # measure the wait, do not fall back
    flush_redis_prefix(os.environ["REDIS_PREFIX"])  # flush reset the ids: old holds collide
    print(f"setting up {args.seats:,} seats and {args.users:,} users ...", flush=True)
    venue, seat_ids = venue_with_seats(name="Replica Hall", section="Floor", seats=args.seats,
                                       per_row=50)
    buyers = funded_buyers(count=max(60, args.seats // 20), balance=1_000_000,
                           email_prefix="rep")
    event = new_event(venue)
    for index, seat_id in enumerate(seat_ids[: args.seats // 5]):
        holds.hold_create(event=event, user=buyers[index % len(buyers)], seat_ids=[seat_id])
    User.objects.bulk_create(User(email=f"wl{i}@example.com", password="!")
                             for i in range(args.users))
    asker = User.objects.order_by("-id").first()
    event = Event.objects.get(pk=event.pk)

    def on_replica(fn):
        def call():
            with replica.replica_reads() as chosen:
                assert chosen == replica.REPLICA, chosen
                return fn()
        return call

    selectors = {
        f"seat map ({args.seats:,} seats)": lambda: streams.seat_map(event),
        "waitlist counters (stats, uncached)": lambda: _uncached_stats(stats),
        f"waitlist position by SQL ({args.users:,} users)": lambda: waitlist.standing_sql(asker),
    }
    results = {}
    rows = []
    for label, fn in selectors.items():
        primary_ms, replica_ms = [], []
        for _ in range(2):  # alternate, so load changes hit both
            primary_ms += timed(lambda fn=fn: _on_primary(fn), args.reads // 2)
            replica_ms += timed(on_replica(fn), args.reads // 2)
        p50p, p50r = percentile(primary_ms, 50), percentile(replica_ms, 50)
        results[label] = {"primary_p50_ms": p50p, "primary_p99_ms": percentile(primary_ms, 99),
                          "replica_p50_ms": p50r, "replica_p99_ms": percentile(replica_ms, 99)}
        print(f"  {label:48} primary p50 {p50p:7.2f} ms  replica p50 {p50r:7.2f} ms "
              f"(p99 {percentile(primary_ms, 99):.2f} / {percentile(replica_ms, 99):.2f})",
              flush=True)
        rows.append(row(f"{label} on the replica", f"p50 {p50r:.2f} ms, "
                        f"p99 {percentile(replica_ms, 99):.2f} ms",
                        baseline=f"primary p50 {p50p:.2f} ms", ratio=f"{p50r / p50p:.2f}x"))
    choose = timed(lambda: replica.read_alias(), args.reads)
    print(f"  choosing the replica (2 round trips): p50 {percentile(choose, 50):.2f} ms, "
          f"p99 {percentile(choose, 99):.2f} ms", flush=True)
    rows.append(row("choosing the replica (primary LSN + replica replay LSN)",
                    f"p50 {percentile(choose, 50):.2f} ms, p99 {percentile(choose, 99):.2f} ms"))

    # Lag under writes: a burst of holds on the primary, a fresh read's wait sampled.
    waits = []
    second = new_event(venue)
    for index, seat_id in enumerate(seat_ids[: min(400, args.seats)]):
        holds.hold_create(event=second, user=buyers[index % len(buyers)], seat_ids=[seat_id])
        if index % 4 == 0:
            started = time.perf_counter()
            assert replica.read_alias() == replica.REPLICA
            waits.append((time.perf_counter() - started) * 1000)
    print(f"  a fresh read right after a hold: p50 {percentile(waits, 50):.2f} ms, "
          f"p99 {percentile(waits, 99):.2f} ms (includes choosing)", flush=True)
    rows.append(row("a fresh replica read right after a write (wait for replay)",
                    f"p50 {percentile(waits, 50):.2f} ms, p99 {percentile(waits, 99):.2f} ms"))
    connections.close_all()
    emit_result("replica_reads", rows, seats=args.seats, users=args.users, reads=args.reads,
                selectors=results, choose_p50_ms=percentile(choose, 50),
                fresh_wait_p50_ms=percentile(waits, 50), fresh_wait_p99_ms=percentile(waits, 99))


def _on_primary(fn):
    from django.conf import settings

    databases = settings.DATABASES
    replica_settings = databases.pop("replica")  # configured() is False: the primary
    try:
        return fn()
    finally:
        databases["replica"] = replica_settings


def _uncached_stats(stats):
    from django.core.cache import cache

    cache.delete("waitlist:stats")
    return stats.waitlist_stats()


if __name__ == "__main__":
    main()
