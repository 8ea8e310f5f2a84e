"""Fan-out latency: N sockets on one event stream, one winner announcement.

    ulimit -n 30000
    .venv/bin/python bench/ws_fanout.py                  # 2,000 sockets
    DATABASE_URL=postgres://... REDIS_URL=redis://... \
        .venv/bin/python bench/ws_fanout.py --sockets 10000 --workers 2 --fanout relay

In one run it measures, on this machine:
1. real daphne serving the project, once per STREAM_FANOUT mode (group, relay),
   `--workers` processes started like the tests start them (tests/servers.py, with
   PostgreSQL and Redis when DATABASE_URL/REDIS_URL are set; several workers need
   Redis), N sockets on ws/events/1/ spread evenly over the workers, a
   `draw.winner` published inside the first worker (POST /e2e/publish/ of the
   test-only app tests/ws_e2e) and relayed by every worker to its own sockets;
2. a minimal broadcast server written with the `websockets` library (this file,
   --bare-server), one process, the same N sockets, the same message;
and prints p50/p99 latency from "publish" (just before the trigger is sent)
to receipt by each socket, and the ratio of the two. Clients run in this
process for both, so their cost is the same on both sides. It also prints each
worker's memory per idle socket (RSS with N/workers sockets open and idle, less
its RSS before they connected, divided by its sockets).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
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

from _common import emit_result, ensure_database, percentile, raise_fd_limit, row  # noqa: E402

MESSAGE = {"type": "draw.winner", "data": {
    "draw_id": 1, "prize": {"id": 1, "name": "Bicycle", "quantity": 1, "rank": 1},
    "winners": [{"id": 1, "prize_id": 1, "winner": "Alice B.", "entry_id": 5012}],
    "proof_url": "http://127.0.0.1/api/events/1/draws/1/proof/"}}


# --- the clients --------------------------------------------------------------


async def open_sockets(url: str, n: int, *, first_frame: bool) -> list:
    import websockets

    gate = asyncio.Semaphore(100)  # do not SYN-flood the listen backlog

    async def one():
        async with gate:
            for attempt in range(5):
                try:
                    ws = await websockets.connect(url, open_timeout=60, max_queue=None,
                                                  ping_interval=None)
                    break
                except (TimeoutError, OSError):
                    await asyncio.sleep(0.2 * (attempt + 1))
            else:
                raise RuntimeError(f"could not connect to {url}")
            if first_frame:
                await ws.recv()  # the snapshot
            return ws

    return await asyncio.gather(*(one() for _ in range(n)))


async def measure(sockets: list, trigger, *, rounds: int) -> list[list[float]]:
    """Per round: every socket's latency (ms) from just before trigger() to receipt."""
    results = []
    for round_ in range(rounds):
        async def wait(ws):
            while True:
                frame = json.loads(await ws.recv())
                if frame.get("type") == "draw.winner":
                    return time.perf_counter()

        waiters = [asyncio.ensure_future(wait(ws)) for ws in sockets]
        await asyncio.sleep(0.5)  # every waiter is parked in recv()
        started = time.perf_counter()
        await trigger(round_)
        received = await asyncio.wait_for(asyncio.gather(*waiters), timeout=120)
        results.append([(t - started) * 1000 for t in received])
        await asyncio.sleep(1)
    return results


async def close_all(sockets: list) -> None:
    await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)


# --- daphne -------------------------------------------------------------------


@contextlib.contextmanager
def daphne_servers(tmp: Path, fanout: str, workers: int):
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "core.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from tests.servers import running_server

    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(running_server(
            tmp, DJANGO_SETTINGS_MODULE="tests.ws_e2e.settings", WS_HEARTBEAT_SECONDS="3600",
            LOG_LEVEL="ERROR", STREAM_FANOUT=fanout)) for _ in range(workers)]


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def bench_daphne(servers, n: int, rounds: int) -> tuple[list[list[float]], float]:
    """Latencies per round, and the workers' mean RSS per idle socket (KiB)."""
    import httpx

    before = [rss_bytes(server.process.pid) for server in servers]
    shares = [n // len(servers) + (1 if i < n % len(servers) else 0) for i in range(len(servers))]
    opened = await asyncio.gather(*(
        open_sockets(server.ws_url("/ws/events/1/"), share, first_frame=True)
        for server, share in zip(servers, shares, strict=True)))
    sockets = [ws for group in opened for ws in group]
    await asyncio.sleep(2)  # connects settled: buffers of the snapshots sent are released
    per_socket = [(rss_bytes(server.process.pid) - rss) / max(1, share) / 1024
                  for server, rss, share in zip(servers, before, shares, strict=True)]
    posts = []
    async with httpx.AsyncClient(timeout=120) as http:
        async def trigger(round_):
            # Not awaited here: the server answers the POST only when its loop is
            # free again, which can be after the sockets got the message.
            posts.append(asyncio.ensure_future(
                http.post(servers[0].url("/e2e/publish/"),
                          json={"stream": "event:1", **MESSAGE})))

        try:
            return await measure(sockets, trigger, rounds=rounds), sum(per_socket) / len(servers)
        finally:
            for response in await asyncio.gather(*posts):
                response.raise_for_status()
            await close_all(sockets)


# --- the bare websockets broadcast server --------------------------------------


async def bare_server(port: int) -> None:
    """Every connection listens; a text frame "publish" from any of them is broadcast."""
    import websockets

    listeners: set = set()
    seq = 0

    async def handler(ws):
        nonlocal seq
        listeners.add(ws)
        try:
            async for frame in ws:
                if frame == "publish":
                    seq += 1
                    message = {"stream": "event:1", "seq": seq, **MESSAGE, "ts": time.time()}
                    websockets.broadcast(listeners - {ws}, json.dumps(message))
        finally:
            listeners.discard(ws)

    async with websockets.serve(handler, "127.0.0.1", port, ping_interval=None,
                                max_queue=None, backlog=4096):
        print("ready", flush=True)
        await asyncio.Future()


@contextlib.contextmanager
def bare_process():
    from tests.servers import free_port

    port = free_port()
    process = subprocess.Popen([sys.executable, __file__, "--bare-server", str(port)],
                               stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline().strip() == "ready"
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


async def bench_bare(port: int, n: int, rounds: int) -> list[list[float]]:
    import websockets

    url = f"ws://127.0.0.1:{port}/"
    sockets = await open_sockets(url, n, first_frame=False)
    async with websockets.connect(url, ping_interval=None) as control:
        async def trigger(round_):
            await control.send("publish")

        try:
            return await measure(sockets, trigger, rounds=rounds)
        finally:
            await close_all(sockets)


# --- report -------------------------------------------------------------------


def summary(name: str, rounds: list[list[float]]) -> tuple[float, float]:
    pooled = [ms for round_ in rounds for ms in round_]
    p50, p99 = percentile(pooled, 50), percentile(pooled, 99)
    per_round = ", ".join(f"{percentile(r, 99):.0f}" for r in rounds)
    print(f"{name:<30} p50 {p50:8.1f} ms   p99 {p99:8.1f} ms   (p99 per round: {per_round})")
    return p50, p99


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sockets", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=1,
                        help="daphne workers sharing the sockets (more than one needs Redis)")
    parser.add_argument("--fanout", default="group,relay",
                        help="STREAM_FANOUT modes to measure, comma-separated")
    parser.add_argument("--bare-server", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_server:
        asyncio.run(bare_server(args.bare_server))
        return
    raise_fd_limit(args.sockets)
    if os.environ.get("DATABASE_URL", "").startswith("postgres"):
        ensure_database(os.environ["DATABASE_URL"])
    layer = "channels-redis" if os.environ.get("REDIS_URL") else "in-memory layer"
    if args.workers > 1 and not os.environ.get("REDIS_URL"):
        sys.exit("--workers > 1 needs REDIS_URL: the in-memory layer reaches one process only")
    print(f"{args.sockets} sockets, {args.rounds} rounds, {os.cpu_count()} cores, "
          f"daphne with the {layer} ({args.workers} worker process(es))")
    daphne, memory = {}, {}
    for fanout in args.fanout.split(","):
        with (tempfile.TemporaryDirectory() as tmp,
              daphne_servers(Path(tmp), fanout, args.workers) as servers):
            daphne[fanout], memory[fanout] = asyncio.run(
                bench_daphne(servers, args.sockets, args.rounds))
    with bare_process() as port:
        bare = asyncio.run(bench_bare(port, args.sockets, args.rounds))
    bare_p50, bare_p99 = summary("bare websockets broadcast", bare)
    rows, figures = [], {"sockets": args.sockets, "rounds": args.rounds, "layer": layer,
                         "workers": args.workers, "bare_p50_ms": bare_p50,
                         "bare_p99_ms": bare_p99}
    where = f"{args.workers} workers, " if args.workers > 1 else ""
    for fanout, rounds in daphne.items():
        p50, p99 = summary(f"daphne, STREAM_FANOUT={fanout}", rounds)
        print(f"  ratio p99 {fanout} / bare: {p99 / bare_p99:.1f}x; "
              f"RSS per idle socket {memory[fanout]:.1f} KiB")
        figures[fanout] = {"p50_ms": p50, "p99_ms": p99, "ratio_p99": p99 / bare_p99,
                           "rss_per_idle_socket_kib": round(memory[fanout], 1)}
        # The target is the production mode's (relay, the default); group is for comparison.
        production = fanout == "relay"
        rows.append(row(
            f"winner to {args.sockets:,} sockets, p99 ({where}STREAM_FANOUT={fanout}, {layer})",
            f"{p99:.0f} ms (p50 {p50:.0f} ms); {memory[fanout]:.1f} KiB RSS per idle socket",
            target="<= 3x bare websockets p99" if production else "(comparison)",
            met=p99 <= 3 * bare_p99 if production else None,
            baseline=f"bare websockets broadcast p99 {bare_p99:.0f} ms",
            ratio=f"{p99 / bare_p99:.1f}x"))
    emit_result("ws_fanout", rows, **figures)


if __name__ == "__main__":
    main()
