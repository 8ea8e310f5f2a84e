"""Single Redis against a Redis Cluster, in one run: fan-out, holds, reconnect storm, shards.

    ulimit -n 30000
    .venv/bin/python bench/cluster.py          # 10,000 sockets, 2,000 buyers, 5,000 reconnects
    .venv/bin/python bench/cluster.py --quick  # 2,000 sockets, 500 buyers, 1,000 reconnects

Starts a local Redis Cluster (3 masters + 3 replicas, deploy/redis_cluster.py) and runs,
once against the single Redis on 127.0.0.1:6379 (db 13) and once against the cluster:

1. bench/ws_fanout.py --fanout relay: a winner announcement to N sockets spread over
   the daphne workers (p99 from publish to receipt; its own bare `websockets` baseline);
2. bench/hold_contention.py: B buyers for S seats over HTTP (holds/s, purchase p99,
   oversold; its own bare-Lua baseline on the same Redis);
3. bench/reconnect_storm.py: C clients lose their sockets (the workers restart) while
   messages are published, and all come back at once with `since` (time until every
   client has every missed message; its own fresh-connect baseline);
4. relay shards: one worker with 100 sockets on one stream while M messages are
   published on 100 other streams; the worker's CPU seconds spent on them, with every
   stream on one channel (STREAM_FANOUT_SHARDS=1: what the single `fanout` channel
   did) and with the default 64 shards (it subscribes to its stream's shard only).

Prints each figure beside its single-Redis twin and the ratio cluster / single.
PostgreSQL on 127.0.0.1:5432 (databases tombola_bench_cluster*, created if missing).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _common import RESULT_PREFIX, emit_result, ensure_database, raise_fd_limit, row  # noqa: E402

from deploy.redis_cluster import RedisCluster  # noqa: E402

# The single Redis and the database: bench/run.py's (--redis, --pg, --quick) when it
# runs this, else these.
SINGLE = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/13"
DATABASE = (os.environ.get("DATABASE_URL")
            or "postgres://postgres@127.0.0.1:5432/tombola_bench_cluster")
PREFIX = os.environ.get("REDIS_PREFIX") or "tombola-bench-cluster"


def run_bench(script: str, args: list[str], env: dict[str, str]) -> dict:
    """Run a sibling benchmark; -> the data of its BENCH_RESULT line."""
    done = subprocess.run([sys.executable, str(ROOT / "bench" / script), *args], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=3600, check=False)
    for line in done.stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            return json.loads(line[len(RESULT_PREFIX):])["data"]
    raise RuntimeError(f"{script} {args} failed ({done.returncode}):\n"
                       f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}")


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def relay_shards(redis_url: str, shards: int, messages: int) -> float:
    """CPU seconds one worker (100 sockets on event:1) spends while `messages` are
    published on event:2..event:101."""
    env = {**os.environ, "REDIS_URL": redis_url, "REDIS_PREFIX": f"{PREFIX}-shards",
           "DATABASE_URL": DATABASE, "STREAM_FANOUT_SHARDS": str(shards)}
    code = f"""
import os, sys, time
sys.path.insert(0, {str(ROOT)!r})
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "core.settings")
import django; django.setup()
from core import streams
from tests.servers import running_server
from pathlib import Path
import asyncio
sys.path.insert(0, {str(ROOT / "bench")!r})
from ws_fanout import open_sockets, close_all
from cluster import cpu_seconds
with running_server(Path({tempfile.mkdtemp()!r}), DJANGO_SETTINGS_MODULE="tests.ws_e2e.settings",
                    WS_HEARTBEAT_SECONDS="3600", LOG_LEVEL="ERROR", STREAM_FANOUT="relay") as s:
    loop = asyncio.new_event_loop()
    sockets = loop.run_until_complete(open_sockets(s.ws_url("/ws/events/1/"), 100,
                                                   first_frame=True))
    time.sleep(1)
    before = cpu_seconds(s.process.pid)
    for n in range({messages}):
        streams.publish(f"event:{{2 + n % 100}}", "draw.winner", {{"n": n}})
    time.sleep(2)
    print("CPU", cpu_seconds(s.process.pid) - before)
    loop.run_until_complete(close_all(sockets))
"""
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=900, check=False)
    for line in done.stdout.splitlines():
        if line.startswith("CPU "):
            return float(line.split()[1])
    raise RuntimeError(f"relay shard bench failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sockets", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--buyers", type=int, default=2000)
    parser.add_argument("--seats", type=int, default=500)
    parser.add_argument("--clients", type=int, default=5000,
                        help="clients in the reconnect storm")
    parser.add_argument("--messages", type=int, default=5000,
                        help="messages on other streams in the relay shard bench")
    parser.add_argument("--quick", action="store_true", help="small sizes (a busy machine)")
    args = parser.parse_args()
    if args.quick:
        args.sockets, args.buyers, args.seats, args.messages = 2000, 500, 150, 2000
        args.clients = 1000
    raise_fd_limit(args.sockets)
    ensure_database(DATABASE)
    print(f"{os.cpu_count()} cores; {args.sockets} sockets over {args.workers} workers, "
          f"{args.buyers} buyers for {args.seats} seats, {args.clients} reconnecting clients, "
          f"{args.messages} messages", flush=True)
    figures: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp, RedisCluster(Path(tmp)) as cluster:
        for name, url in (("single", SINGLE), ("cluster", cluster.url)):
            env = {k: v for k, v in os.environ.items()
                   if k not in ("REDIS_URL", "REDIS_CLUSTER_URLS", "REDIS_PREFIX")}
            env.update(REDIS_URL=url, REDIS_PREFIX=PREFIX, DATABASE_URL=DATABASE)
            started = time.monotonic()
            fanout = run_bench("ws_fanout.py", [
                "--sockets", str(args.sockets), "--workers", str(args.workers),
                "--rounds", str(args.rounds), "--fanout", "relay"], env)
            holds = run_bench("hold_contention.py", [
                "--buyers", str(args.buyers), "--seats", str(args.seats),
                "--workers", str(args.workers)],
                {**env, "DATABASE_URL": f"{DATABASE}_holds"})
            storm = run_bench("reconnect_storm.py", [
                "--clients", str(args.clients), "--workers", str(args.workers),
                "--processes", "4", "--missed", "50"],
                {**env, "DATABASE_URL": f"{DATABASE}_storm"})
            one_channel = relay_shards(url, 1, args.messages)
            sharded = relay_shards(url, 64, args.messages)
            figures[name] = {"fanout": fanout, "holds": holds, "storm": storm,
                             "one_channel_cpu_s": one_channel,
                             "sharded_cpu_s": sharded}
            print(f"{name}: fan-out p99 {fanout['relay']['p99_ms']:.0f} ms (bare "
                  f"{fanout['bare_p99_ms']:.0f}); holds {holds['holds_per_second_http']:.0f}/s "
                  f"over HTTP, bare Lua {holds['direct_lua_holds_per_second']:.0f}/s, purchase "
                  f"p99 {holds['purchase_p99_ms']:.0f} ms, oversold {holds['oversold']}, 5xx "
                  f"{holds['server_errors']}; reconnect storm {storm['recovered_all_s']:.2f} s "
                  f"(fresh {storm['fresh_all_s']:.2f} s, {storm['failures']} failed); "
                  f"other streams' messages: {one_channel:.2f} s CPU "
                  f"on one channel, {sharded:.2f} s sharded "
                  f"({time.monotonic() - started:.0f} s)", flush=True)
    single, on_cluster = figures["single"], figures["cluster"]
    rows = []
    for what, unit, pick in (
        (f"winner to {args.sockets:,} sockets over {args.workers} workers, relay p99",
         "ms", lambda f: f["fanout"]["relay"]["p99_ms"]),
        (f"{args.buyers:,} buyers for {args.seats:,} seats: hold requests/s over HTTP",
         "/s", lambda f: f["holds"]["holds_per_second_http"]),
        ("hold Lua script, one client, sequential", "/s",
         lambda f: f["holds"]["direct_lua_holds_per_second"]),
        (f"{args.buyers:,} buyers: purchase p99", "ms",
         lambda f: f["holds"]["purchase_p99_ms"]),
        (f"{args.clients:,} clients reconnect with since (50 missed): all recovered", "s",
         lambda f: f["storm"]["recovered_all_s"]),
        (f"{args.clients:,} clients connect fresh (the storm's baseline)", "s",
         lambda f: f["storm"]["fresh_all_s"]),
    ):
        a, b = pick(single), pick(on_cluster)
        print(f"{what:<72} single {a:9.1f} {unit}   cluster {b:9.1f} {unit}   "
              f"cluster/single {b / a:.2f}")
        digits = 2 if unit == "s" else 0
        rows.append(row(f"{what} (Redis Cluster 3+3)", f"{b:.{digits}f} {unit}",
                        baseline=f"single Redis {a:.{digits}f} {unit}", ratio=f"{b / a:.2f}x"))
    safe = all(f["holds"]["oversold"] == 0 and f["holds"]["server_errors"] == 0
               and f["storm"]["failures"] == 0 for f in figures.values())
    for name, f in figures.items():
        saved = f["one_channel_cpu_s"] / max(f["sharded_cpu_s"], 1e-3)
        print(f"{name}: a worker's CPU for {args.messages} messages on streams it does not "
              f"watch: one channel {f['one_channel_cpu_s']:.2f} s, 64 shards "
              f"{f['sharded_cpu_s']:.2f} s ({saved:.0f}x less)")
        rows.append(row(
            f"CPU of a worker for {args.messages:,} messages of 100 streams it does not "
            f"watch ({name} Redis, 64 shards)", f"{f['sharded_cpu_s']:.2f} s",
            baseline=f"one channel for every stream {f['one_channel_cpu_s']:.2f} s",
            ratio=f"{saved:.0f}x less"))
    rows.append(row("oversold / 5xx / storm clients failed, on both",
                    "0 / 0 / 0" if safe else "NOT 0",
                    target="0 oversold, 0 5xx, 0 failed", met=safe))
    emit_result("cluster", rows, quick=args.quick, **figures)
    if not safe:
        sys.exit(1)


if __name__ == "__main__":
    main()
