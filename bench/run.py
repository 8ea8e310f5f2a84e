"""Run every benchmark and print one summary table (issue 7, "Benchmarks, published").

    .venv/bin/python bench/run.py                                  # documented sizes
    .venv/bin/python bench/run.py --markdown docs/performance.md   # updates its summary
    .venv/bin/python bench/run.py --quick                          # small sizes, a smoke test
    .venv/bin/python bench/run.py --only ws_fanout,reconnect_storm

Each benchmark runs as its own process with the database, Redis db and prefix its
script documents (PostgreSQL on 127.0.0.1:5432 and Redis on 127.0.0.1:6379 by default;
`--pg` / `--redis` to point elsewhere); its output is shown as it runs and kept in
`--log-dir`. Each prints a last line `BENCH_RESULT {json}` (bench/_common.py) with its
table rows; this runner collects them and prints
benchmark | figure | target | result | met? | baseline | ratio,
plus the machine (cores, CPU, RAM, PostgreSQL and Redis versions, load average at
start and end) and the exact command, and writes the same as Markdown with
`--markdown FILE` (into the marked summary block when FILE has one, as
docs/performance.md does; else the whole file). `--quick` uses small sizes and
separate `*_quick` databases, so it never throws away the 1,000,000-row fills the
full sizes reuse.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))

from _common import RESULT_PREFIX, ensure_database, machine  # noqa: E402

# name: (database, redis db, prefix, full-size args, quick args). The full sizes are the
# ones docs/performance.md reports; the databases and Redis dbs are the scripts' own.
BENCHMARKS: dict[str, tuple[str, int | None, str | None, list[str], list[str]]] = {
    "waitlist_position": (
        "tombola_bench_waitlist", 3, "tombola-bench-waitlist",
        ["--users", "1000000", "--samples", "2000", "--sql-samples", "200"],
        ["--users", "20000", "--samples", "500", "--sql-samples", "50"]),
    "draw_perform": (
        "tombola_bench_live", None, None,
        ["--entries", "1000000", "--runs", "3", "--prizes", "10"],
        ["--entries", "20000", "--runs", "1", "--prizes", "10"]),
    "ws_fanout": (
        "tombola_bench_fanout", 11, "tombola-bench-storm-fanout",
        ["--sockets", "10000", "--workers", "2", "--fanout", "relay", "--rounds", "3"],
        ["--sockets", "200", "--workers", "2", "--fanout", "relay", "--rounds", "2"]),
    "hold_contention": (
        "tombola_bench_ticketing", 6, "tombola-bench-ticketing",
        ["--buyers", "2000", "--seats", "500", "--workers", "2"],
        ["--buyers", "200", "--seats", "50", "--workers", "2"]),
    "exports": (
        "tombola_bench_tools", None, None,
        ["--rows", "100000"],
        ["--rows", "5000"]),
    "request_path": (
        "tombola_bench_request", 7, "tombola-bench-request",
        ["--workers", "2", "--in-flight", "32,64", "--seconds", "6"],
        ["--quick"]),
    "db_pool": (
        "tombola_bench_pool", 7, "tombola-bench-pool",
        ["--workers", "2", "--in-flight", "64", "--seconds", "6", "--rounds", "2"],
        ["--quick"]),
    "replica_reads": (
        "tombola_bench_replica", 8, "tombola-bench-replica",
        ["--seats", "2000", "--users", "20000", "--reads", "200"],
        ["--quick"]),
    "reconnect_storm": (
        "tombola_bench_storm", 11, "tombola-bench-storm",
        ["--clients", "5000", "--workers", "2", "--processes", "4", "--missed", "50"],
        ["--clients", "200", "--workers", "2", "--processes", "2", "--missed", "20"]),
    "waiting_room": (
        "tombola_bench_queue", 12, "tombola-bench-queue",
        ["--buyers", "20000", "--arrival-seconds", "10", "--workers", "2", "--http-workers", "2",
         "--rate", "1200",
         "--sample", "300", "--direct-buyers", "2000", "--direct-seats", "500"],
        ["--buyers", "2000", "--arrival-seconds", "5", "--sale-after", "2.5", "--workers", "2",
         "--http-workers", "2",
         "--rate", "600", "--sample", "50", "--observe", "4", "--direct-buyers", "200",
         "--direct-seats", "50"]),
    "cluster": (  # starts its own Redis Cluster beside the single Redis (db 13)
        "tombola_bench_cluster", 13, "tombola-bench-cluster",
        ["--sockets", "10000", "--workers", "2", "--buyers", "2000", "--seats", "500",
         "--clients", "5000"],
        ["--quick"]),
    "gate_scan": (
        "tombola_bench_gates", 13, "tombola-bench-gates",
        ["--tickets", "18000", "--scans", "20000", "--gates", "10", "--workers", "2"],
        ["--tickets", "1800", "--scans", "2000", "--gates", "10", "--workers", "2"]),
}


def versions(pg: str, redis_url: str) -> dict[str, str]:
    found = {}
    try:
        import psycopg

        with psycopg.connect(pg + "postgres", connect_timeout=5) as conn:
            found["postgresql"] = conn.execute("SHOW server_version").fetchone()[0]
    except Exception as exc:
        found["postgresql"] = f"unavailable ({type(exc).__name__})"
    try:
        import redis

        found["redis"] = redis.Redis.from_url(redis_url + "0").info("server")["redis_version"]
    except Exception as exc:
        found["redis"] = f"unavailable ({type(exc).__name__})"
    return found


def run_one(name: str, args: list[str], env: dict[str, str], log_path: Path) -> dict:
    command = [sys.executable, f"bench/{name}.py", *args]
    print(f"\n=== {name}: {shlex.join(command[1:])}", flush=True)
    ensure_database(env["DATABASE_URL"])  # not every script creates its own
    started = time.perf_counter()
    result = None
    with open(log_path, "w") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True, bufsize=1)
        for line in process.stdout:
            log.write(line)
            if line.startswith(RESULT_PREFIX):
                result = json.loads(line[len(RESULT_PREFIX):])
            else:
                sys.stdout.write(f"  {line}")
                sys.stdout.flush()
        code = process.wait()
    seconds = time.perf_counter() - started
    print(f"=== {name}: exit {code} after {seconds:.0f} s (log {log_path})", flush=True)
    if result is None:
        result = {"bench": name, "rows": [{
            "figure": "(no result)", "target": None, "met": False, "baseline": None,
            "ratio": None, "result": f"failed: exit code {code}, see {log_path}"}]}
    result["exit_code"], result["seconds"] = code, seconds
    return result


def cell(value) -> str:
    if value is None:
        return "—"
    if value is True:
        return "yes"
    if value is False:
        return "NO"
    return str(value).replace("|", "\\|")


COLUMNS = ("benchmark", "figure", "target", "result", "met?", "baseline", "ratio")


def table_rows(results: list[dict]) -> list[list[str]]:
    return [[result["bench"], cell(r["figure"]), cell(r["target"]), cell(r["result"]),
             cell(r["met"]), cell(r["baseline"]), cell(r["ratio"])]
            for result in results for r in result["rows"]]


def markdown(results: list[dict], about: dict, command: str) -> str:
    lines = [
        f"Measured {about['started']} UTC by `bench/run.py`"
        f"{' (--quick: small sizes, not the targets)' if about['quick'] else ''}; "
        f"commit `{about['commit']}`.",
        "",
        f"Machine: {about['nproc']} cores ({about.get('cpu', 'unknown CPU')}), "
        f"{about.get('ram_gib', '?')} GiB RAM; PostgreSQL {about['postgresql']}, "
        f"Redis {about['redis']}; Python {about['python']}; load average at start "
        f"{about['load_start']}, at the end {about['load_end']}; total "
        f"{about['minutes']:.1f} min.",
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
        *("| " + " | ".join(r) + " |" for r in table_rows(results)),
        "",
        "Command:",
        "",
        "```sh",
        command,
        "```",
        "",
    ]
    return "\n".join(lines)


START, END = "<!-- bench/run.py summary: start -->", "<!-- bench/run.py summary: end -->"


def write_markdown(path: Path, table: str) -> None:
    """Replace the block between the markers when the file has them (docs/performance.md),
    else write the file."""
    text = path.read_text() if path.exists() else ""
    if START in text and END in text:
        head, rest = text.split(START, 1)
        _, tail = rest.split(END, 1)
        path.write_text(f"{head}{START}\n{table}{END}{tail}")
    else:
        path.write_text(table)


def plain(results: list[dict]) -> str:
    rows = [list(COLUMNS), *table_rows(results)]
    widths = [min(60, max(len(r[i]) for r in rows)) for i in range(len(COLUMNS))]
    out = []
    for index, r in enumerate(rows):
        out.append("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())
        if index == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke test)")
    parser.add_argument("--only", help="comma-separated benchmark names: "
                        + ", ".join(BENCHMARKS))
    parser.add_argument("--markdown", type=Path, help="also write the table here")
    parser.add_argument("--log-dir", type=Path,
                        default=Path(tempfile.gettempdir()) / "tombola-bench")
    parser.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432/",
                        help="PostgreSQL URL without the database name")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/",
                        help="Redis URL without the db number")
    args = parser.parse_args()
    names = args.only.split(",") if args.only else list(BENCHMARKS)
    unknown = set(names) - set(BENCHMARKS)
    if unknown:
        parser.error(f"unknown benchmarks: {', '.join(sorted(unknown))}")

    args.log_dir.mkdir(parents=True, exist_ok=True)
    python = Path(sys.executable)
    if python.is_relative_to(ROOT):
        python = python.relative_to(ROOT)
    command = shlex.join([str(python), "bench/run.py", *sys.argv[1:]])
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                            capture_output=True, text=True).stdout.strip() or "unknown"
    about = {**machine(), **versions(args.pg, args.redis), "quick": args.quick,
             "commit": commit, "python": platform.python_version(),
             "started": datetime.now(UTC).strftime("%Y-%m-%d %H:%M")}
    about["load_start"] = " / ".join(f"{x:.1f}" for x in about.pop("load_average"))
    print(f"{about['nproc']} cores, {about.get('cpu')}, {about.get('ram_gib')} GiB, "
          f"PostgreSQL {about['postgresql']}, Redis {about['redis']}, "
          f"load {about['load_start']}", flush=True)

    started = time.perf_counter()
    results = []
    for name in names:
        database, redis_db, prefix, full, quick = BENCHMARKS[name]
        if args.quick:
            database += "_quick"
        env = {k: v for k, v in os.environ.items()
               if k not in ("DATABASE_URL", "REDIS_URL", "REDIS_PREFIX")}
        env["DATABASE_URL"] = args.pg + database
        if redis_db is not None:
            env["REDIS_URL"] = f"{args.redis}{redis_db}"
            env["REDIS_PREFIX"] = prefix + ("-quick" if args.quick else "")
        results.append(run_one(name, quick if args.quick else full, env,
                               args.log_dir / f"{name}.log"))
    about["minutes"] = (time.perf_counter() - started) / 60
    about["load_end"] = " / ".join(f"{x:.1f}" for x in os.getloadavg())

    print("\n" + plain(results))
    print(f"\n{about['minutes']:.1f} min; load average at start {about['load_start']}, "
          f"at the end {about['load_end']}")
    if args.markdown:
        write_markdown(args.markdown, markdown(results, about, command))
        print(f"Markdown table written to {args.markdown}")
    if any(r["exit_code"] for r in results):
        sys.exit(1)


if __name__ == "__main__":
    main()
