"""PostgreSQL connections on the HTTP path: no pool, Django's psycopg pool, PgBouncer (issue 18).

    python bench/db_pool.py                       # 2 workers, 64 in flight, 6 s per request kind
    python bench/db_pool.py --workers 4 --rounds 2 --quick

The same Tombola workers (`manage.py serve`, daphne with core/http.py's thread pool) and
the same requests as bench/request_path.py, with the database connection handled four
ways, one after another in one run (and again, in the other order, per extra round):

- `per-request`: a new connection for every request (`DB_POOL=0 DB_CONN_MAX_AGE=0`), what
  Django's ASGIHandler forced before issue 11;
- `per-thread`: one persistent connection per HTTP thread (`DB_POOL=0`, CONN_MAX_AGE 600),
  what issue 11 shipped: the 1.0x of the ratios;
- `pool`: psycopg's pool per worker (`DB_POOL=1`, Django's OPTIONS["pool"], the default
  now), a connection taken per request and given back;
- `pgbouncer`: PgBouncer in transaction mode between the workers and PostgreSQL (Debian's
  package; skipped when it is not installed), workers keeping one connection per thread
  to it.

Prints req/s, p99, worker and PostgreSQL CPU per request (PgBouncer's own CPU counted
with PostgreSQL's), and the most PostgreSQL
backends connected to the bench database at once (sampled every 50 ms) for each; every
ratio is against `per-thread` at the same request kind, in the same round.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/tombola_bench_pool")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/7")
os.environ.setdefault("REDIS_PREFIX", "tombola-bench-pool")

import request_path as rp  # noqa: E402
from _common import emit_result, row  # noqa: E402

from deploy import pgbouncer  # noqa: E402

VARIANTS = {
    "per-request": {"DB_POOL": "0", "DB_CONN_MAX_AGE": "0"},
    "per-thread": {"DB_POOL": "0", "DB_CONN_MAX_AGE": "600"},
    "pool": {"DB_POOL": "1"},
    "pgbouncer": {"DB_POOL": "0", "DB_CONN_MAX_AGE": "600"},
}
BASELINE = "per-thread"
KINDS = ["me", "hold_granted", "purchase"]


class BackendSampler(threading.Thread):
    """The most client backends connected to `database` at once while it runs."""

    def __init__(self, database: str) -> None:
        super().__init__(daemon=True)
        self.database = database
        self.peak = 0
        self.done = threading.Event()

    def run(self) -> None:
        import psycopg

        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres",
                             autocommit=True) as conn:
            while not self.done.wait(0.05):
                (count,) = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = %s"
                    " AND backend_type = 'client backend'", [self.database]).fetchone()
                self.peak = max(self.peak, count)

    def stop(self) -> int:
        self.done.set()
        self.join(timeout=5)
        return self.peak


def pooler_cpu(bouncer) -> float:
    """PgBouncer's own CPU (it is not a PostgreSQL process): charged to the database side."""
    if bouncer is None or bouncer.process is None:
        return 0.0
    return sum(rp.cpu_seconds(pid) for pid in [bouncer.process.pid,
                                               *rp.children_of(bouncer.process.pid)])


def measure(variant: str, env: dict[str, str], fx, args, tmp: Path, postmaster, database: str,
            bouncer=None) -> dict[str, dict]:
    from django.db import connection

    figures_by_kind = {}
    servers = rp.start(variant, env, args.workers, tmp)
    try:
        for kind in KINDS:
            lists, _ = rp.requests_for(kind, fx, len(servers.ports), args.seats)
            connection.close()
            spent = kind in ("hold_granted", "purchase")
            rp.run_wrk(servers.ports, args.in_flight, 1,
                       [lst[:50] for lst in lists] if spent else lists, tmp)
            if spent:
                lists = [lst[50:] for lst in lists]
            sampler = BackendSampler(database)
            sampler.start()
            cpu0, pg0 = servers.cpu(), rp.postgres_cpu(postmaster) + pooler_cpu(bouncer)
            figures = rp.run_wrk(servers.ports, args.in_flight, args.seconds, lists, tmp)
            cpu1, pg1 = servers.cpu(), rp.postgres_cpu(postmaster) + pooler_cpu(bouncer)
            done = max(1, figures["requests"])
            figures.update(worker_cpu_ms=round((cpu1 - cpu0) * 1000 / done, 3),
                           postgres_cpu_ms=round((pg1 - pg0) * 1000 / done, 3),
                           backends=sampler.stop())
            figures_by_kind[kind] = figures
            print(f"  {variant:11} {kind:13} {figures['rps']:8.1f} req/s  "
                  f"p99 {figures['p99_ms']:7.1f} ms  worker {figures['worker_cpu_ms']:.2f} ms  "
                  f"pg {figures['postgres_cpu_ms']:.2f} ms  backends {figures['backends']}  "
                  f"statuses {figures['statuses']}", flush=True)
    finally:
        servers.stop()
    return figures_by_kind


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--in-flight", type=int, default=64)
    parser.add_argument("--seconds", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=1,
                        help="repeat every variant, alternating the order (default 1)")
    parser.add_argument("--seats", type=int, default=1_000)
    parser.add_argument("--users", type=int, default=300)
    parser.add_argument("--pgbouncer-pool", type=int, default=8,
                        help="PgBouncer's server connections for the database (default 8)")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    args = parser.parse_args()
    if args.quick:
        args.seats, args.users, args.seconds = 600, 200, min(args.seconds, 3)
    variants = [v for v in args.variants.split(",")
                if v != "pgbouncer" or pgbouncer.available()]
    if len(variants) < len(args.variants.split(",")):
        print("pgbouncer is not installed: that variant is skipped (apt-get install pgbouncer)")

    database = os.environ["DATABASE_URL"].rsplit("/", 1)[1]
    fx, postmaster, base_env = rp.prepare_run(users=args.users, seats=args.seats)
    rounds: list[dict[str, dict[str, dict]]] = []
    with tempfile.TemporaryDirectory(prefix="bench-pool-") as tmp_name:
        for number in range(args.rounds):
            order = variants if number % 2 == 0 else list(reversed(variants))
            print(f"== round {number + 1}: {', '.join(order)}", flush=True)
            results = {}
            for variant in order:
                env = {**base_env, **VARIANTS[variant]}
                # A PgBouncer per run: its server connections close with it, so the
                # next variant's backend count starts from nothing.
                with (pgbouncer.PgBouncer(pool_size=args.pgbouncer_pool)
                      if variant == "pgbouncer" else contextlib.nullcontext()) as bouncer:
                    if bouncer:
                        env["DATABASE_URL"] = bouncer.url("postgres", database)
                    results[variant] = measure(variant, env, fx, args, Path(tmp_name),
                                               postmaster, database, bouncer)
            rounds.append(results)
    report(rounds, variants, args)


def report(rounds, variants, args) -> None:
    rows = []
    print(f"\n{'round':>5} {'variant':11} {'request':13} {'req/s':>8} {'p99 ms':>7} "
          f"{'wCPU':>6} {'pgCPU':>6} {'backends':>8} {'vs per-thread':>13}")
    for number, results in enumerate(rounds, 1):
        base = results.get(BASELINE, {})
        for variant in variants:
            for kind in KINDS:
                fig = results[variant][kind]
                ratio = fig["rps"] / base[kind]["rps"] if kind in base else float("nan")
                fig["vs_per_thread"] = round(ratio, 3)
                print(f"{number:>5} {variant:11} {kind:13} {fig['rps']:>8.1f} "
                      f"{fig['p99_ms']:>7.1f} {fig['worker_cpu_ms']:>6.2f} "
                      f"{fig['postgres_cpu_ms']:>6.2f} {fig['backends']:>8} {ratio:>12.2f}x")
                if number == 1 and variant != BASELINE:
                    rows.append(row(
                        f"{rp.LABELS[kind]} [{variant}, {args.workers} workers, "
                        f"{args.in_flight} in flight]",
                        f"{fig['rps']:,.0f} req/s, p99 {fig['p99_ms']:.0f} ms, "
                        f"{fig['backends']} PostgreSQL backends",
                        baseline=f"per-thread connections {base[kind]['rps']:,.0f} req/s, "
                                 f"{base[kind]['backends']} backends",
                        ratio=f"{ratio:.2f}x"))
    emit_result("db_pool", rows, workers=args.workers, in_flight=args.in_flight,
                seconds=args.seconds, rounds=rounds)


if __name__ == "__main__":
    main()
