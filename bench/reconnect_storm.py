"""Reconnect storm: N clients lose their WebSocket at once and all come back with `since`.

    .venv/bin/python bench/reconnect_storm.py                       # 5,000 clients, 2 workers
    .venv/bin/python bench/reconnect_storm.py --clients 200 --missed 20   # a quick check
    .venv/bin/python bench/reconnect_storm.py --protocol v1   # one frame per missed message

Needs PostgreSQL and Redis (defaults: database tombola_bench_storm, created and migrated
if missing; Redis db 11, prefix tombola-bench-storm, whose keys are deleted first; override
with DATABASE_URL / REDIS_URL / REDIS_PREFIX).

The service runs as in production: `--workers` daphne processes (`manage.py serve
--no-scheduler`, STREAM_FANOUT=relay, default 2, the issue's topology; clients are spread
over them round robin, as a proxy would), one real published event, its stream
`event:<id>` (the real snapshot, read from PostgreSQL). Clients run in `--processes`
separate processes (multiprocessing), so the client side is not the bottleneck.

1. Baseline: all N clients connect fresh at the same moment and wait for their snapshot
   (time until every client has it).
2. Live: `--live` messages are published; every client must get them.
3. Outage: every worker is stopped (SIGTERM: all sockets drop; `--outage close` closes
   them from the client side instead, workers keep running); `--missed` messages are
   published while the clients are away (the stream history in Redis keeps them); the
   workers are started again.
4. Storm: at one instant all N clients reconnect with `?since=<last seq they processed>`,
   while the stream keeps publishing `--rate` messages per second (a countdown ticking).
   A client has recovered when it has received every missed message; each message is
   checked on arrival: seq exactly previous + 1, payload as published, no reset snapshot.
   After the storm every client must also have every message published during it.
   Clients speak protocol `tombola.v2` (`--protocol v2`, the default: a resume is one
   `replay` frame, checked message by message the same way) or `tombola.v1`.

Printed: time until ALL clients recovered (target: 10 s), p50/p99 per client, failures,
and the ratio to the fresh-connect baseline of step 1 (same clients, same workers, same
concurrency limit). Handshakes in flight are limited per client process (`--in-flight`,
like bench/ws_fanout.py) so that the listen backlog does not drop SYNs: a dropped SYN is
retried by the kernel after 1 s and would measure TCP, not the service.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import multiprocessing
import os
import random
import secrets
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/tombola_bench_storm")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/11")
os.environ.setdefault("REDIS_PREFIX", "tombola-bench-storm")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "core.settings")

from _common import (  # noqa: E402
    emit_result,
    percentile,
    raise_fd_limit,
    row,
    setup_django,
    start_workers,
)

MESSAGE_TYPE = "draw.entries"  # a real message type: {draw_id, count}
TARGET_SECONDS = 10.0


# --- client side (runs in the client processes) ---------------------------------


class Client:
    """One phone: a socket, the last seq it processed, and what went wrong."""

    def __init__(self, url: str, protocol: str) -> None:
        self.url = url
        self.protocol = protocol  # "tombola.v2": a resume comes as one replay frame
        self.ws = None
        self.reader: asyncio.Task | None = None
        self.delivered: int | None = None  # last seq processed
        self.offset = 0  # payload check: message seq s carries count s - offset
        self.target = 0  # recovered once delivered >= target
        self.started_at = 0.0
        self.done_at: float | None = None
        self.error: str | None = None
        self.retries = 0

    def fail(self, reason: str) -> None:
        if self.error is None:
            self.error = reason

    async def open(self, gate: asyncio.Semaphore, *, since: int | None, deadline: float) -> None:
        import websockets

        url = self.url if since is None else f"{self.url}?since={since}"
        async with gate:
            # Like a phone: retry with a growing, jittered back-off until the phase's
            # deadline (daphne drops a handshake its application has not accepted
            # within 5 s, --websocket_connect_timeout).
            attempt = 0
            while True:
                try:
                    self.ws = await websockets.connect(
                        url, open_timeout=60, close_timeout=2, max_queue=None,
                        ping_interval=None, subprotocols=[self.protocol])
                    break
                except (TimeoutError, OSError, websockets.exceptions.WebSocketException):
                    self.retries += 1
                    attempt += 1
                    if time.time() > deadline:
                        self.fail("connect failed")
                        return
                    await asyncio.sleep(min(2.0, 0.1 * attempt) * (0.5 + random.random()))
            if since is None:  # a fresh client's first frame is its snapshot
                try:
                    frame = json.loads(await asyncio.wait_for(self.ws.recv(), 60))
                except Exception as exc:
                    self.fail(f"no snapshot: {type(exc).__name__}")
                    return
                if frame.get("type") != "snapshot":
                    self.fail(f"first frame {frame.get('type')}")
                    return
                self.delivered = frame["seq"]
                self.done_at = time.time()
        self.reader = asyncio.ensure_future(self.read())

    async def read(self) -> None:
        try:
            async for raw in self.ws:
                self.handle(json.loads(raw))
        except Exception:  # noqa: S110 - a dropped connection ends the reader; outage is expected
            pass

    def handle(self, frame: dict) -> None:
        if "stream" not in frame:  # control frame
            if frame.get("type") == "error":
                self.fail(f"error frame {frame.get('code')}")
            return
        if frame.get("type") == "snapshot":
            self.fail("reset snapshot" if frame.get("reset") else "unexpected snapshot")
            return
        if frame.get("type") == "replay":  # protocol v2: the missed messages in one frame
            messages = frame["data"]["messages"]
            if self.protocol != "tombola.v2" or not messages or messages[-1]["seq"] != frame["seq"]:
                self.fail(f"bad replay frame at seq {frame['seq']}")
                return
            for message in messages:
                self.handle(message)
            return
        seq = frame["seq"]
        if seq != self.delivered + 1:
            self.fail(f"seq {seq} after {self.delivered}")
            return
        if frame.get("type") != MESSAGE_TYPE or frame["data"].get("count") != seq - self.offset:
            self.fail(f"wrong payload at seq {seq}")
            return
        self.delivered = seq
        if seq >= self.target and self.done_at is None:
            self.done_at = time.time()


def client_process(conn, urls: list[str], in_flight: int, protocol: str) -> None:
    """Runs the commands the parent sends over `conn`, for its share of the clients."""
    raise_fd_limit(len(urls))
    asyncio.run(client_main(conn, urls, in_flight, protocol))


async def until_all(clients: list[Client], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(c.error is not None or c.done_at is not None for c in clients):
            return
        await asyncio.sleep(0.02)


def report(clients: list[Client]) -> dict:
    return {
        "seconds": [c.done_at - c.started_at for c in clients
                    if c.error is None and c.done_at is not None],
        "errors": [c.error or "timed out" for c in clients
                   if c.error is not None or c.done_at is None],
        "retries": sum(c.retries for c in clients),
        "delivered": [c.delivered for c in clients],
    }


async def client_main(conn, urls: list[str], in_flight: int, protocol: str) -> None:
    loop = asyncio.get_running_loop()
    clients = [Client(url, protocol) for url in urls]
    gate = asyncio.Semaphore(in_flight)

    async def at(instant: float) -> None:
        await asyncio.sleep(max(0.0, instant - time.time()))

    while True:
        command, args = await loop.run_in_executor(None, conn.recv)
        if command == "connect":  # fresh, snapshot first
            await at(args["at"])
            for c in clients:
                c.started_at, c.done_at = args["at"], None
            deadline = args["at"] + args["timeout"]
            await asyncio.gather(*(c.open(gate, since=None, deadline=deadline) for c in clients))
            conn.send(report(clients))
        elif command == "expect":  # every client has everything up to target
            for c in clients:
                c.offset, c.target, c.done_at, c.started_at = (
                    args["offset"], args["target"], None, time.time())
                if c.delivered is not None and c.delivered >= c.target:
                    c.done_at = time.time()
            await until_all(clients, args["timeout"])
            conn.send(report(clients))
        elif command == "dropped":  # wait until every socket is gone (workers stopped)
            if args["close"]:
                await asyncio.gather(*(c.ws.close() for c in clients if c.ws),
                                     return_exceptions=True)
            readers = [c.reader for c in clients if c.reader is not None]
            await asyncio.wait_for(asyncio.gather(*readers, return_exceptions=True), 60)
            conn.send({"open": sum(1 for c in clients if c.reader and not c.reader.done())})
        elif command == "storm":  # all reconnect at once with since
            await at(args["at"])
            for c in clients:
                c.target, c.started_at, c.done_at = args["target"], args["at"], None
            deadline = args["at"] + args["timeout"]
            await asyncio.gather(*(c.open(gate, since=c.delivered, deadline=deadline)
                                   for c in clients if c.error is None))
            await until_all(clients, deadline - time.time())
            conn.send(report(clients))
        elif command == "quit":
            await asyncio.gather(*(c.ws.close() for c in clients if c.ws),
                                 return_exceptions=True)
            conn.send("bye")
            return


# --- the parent ------------------------------------------------------------------


def prepare() -> tuple[int, str]:
    """Migrated database, empty Redis prefix, one fresh published event."""
    setup_django()
    from django.db import connection

    from core.redis import get_redis
    from tests.factories import make_event

    client = get_redis()
    stale = list(client.scan_iter(match=f"{os.environ['REDIS_PREFIX']}:*", count=1000))
    for start in range(0, len(stale), 500):
        client.delete(*stale[start : start + 500])
    event = make_event(title="Reconnect storm", status="live")
    connection.close()
    return event.pk, f"event:{event.pk}"


class Publisher:
    """Publishes numbered messages; message i carries count i (seq = offset + i)."""

    def __init__(self, stream: str, event_id: int) -> None:
        from core import streams

        self.streams = streams
        self.stream = stream
        self.event_id = event_id
        self.offset = streams.last_seq(stream)
        self.count = 0

    def publish(self, n: int) -> int:
        for _ in range(n):
            self.count += 1
            message = self.streams.publish(self.stream, MESSAGE_TYPE,
                                           {"draw_id": 0, "count": self.count})
            assert message["seq"] == self.offset + self.count, "someone else publishes here"
        return self.offset + self.count

    def ticking(self, rate: float, stop: threading.Event, start_at: float) -> threading.Thread:
        def tick():
            time.sleep(max(0.0, start_at - time.time()))
            while not stop.wait(1 / rate):
                self.publish(1)

        thread = threading.Thread(target=tick, daemon=True)
        thread.start()
        return thread


def gather(pipes, command: str, **args) -> list:
    for pipe in pipes:
        pipe.send((command, args))
    return [pipe.recv() for pipe in pipes]


def merge(replies: list[dict]) -> dict:
    return {
        "seconds": [s for r in replies for s in r["seconds"]],
        "errors": [e for r in replies for e in r["errors"]],
        "retries": sum(r["retries"] for r in replies),
        "delivered": [d for r in replies for d in r["delivered"]],
    }


def describe(name: str, merged: dict, clients: int) -> tuple[float, float, float]:
    seconds = merged["seconds"]
    worst = max(seconds) if len(seconds) == clients else float("inf")
    p50, p99 = percentile(seconds, 50), percentile(seconds, 99)
    errors = merged["errors"]
    kinds = {e: errors.count(e) for e in sorted(set(errors))}
    print(f"{name:<34} all {worst:7.2f} s   p50 {p50:6.2f} s   p99 {p99:6.2f} s   "
          f"ok {len(seconds)}/{clients}   failures {len(errors)} {kinds or ''}   "
          f"connect retries {merged['retries']}", flush=True)
    return worst, p50, p99


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=2, help="daphne processes")
    parser.add_argument("--processes", type=int, default=4, help="client processes")
    parser.add_argument("--in-flight", type=int, default=50,
                        help="WebSocket handshakes in flight per client process")
    parser.add_argument("--live", type=int, default=3, help="messages before the outage")
    parser.add_argument("--missed", type=int, default=50,
                        help="messages published while the clients are away (history keeps 300)")
    parser.add_argument("--rate", type=float, default=2.0,
                        help="messages per second published during the storm (0: none)")
    parser.add_argument("--outage", choices=["restart", "close"], default="restart",
                        help="stop and restart the workers, or close the sockets client-side")
    parser.add_argument("--timeout", type=float, default=300.0,
                        help="seconds after which a phase gives up on a client (a failure)")
    parser.add_argument("--protocol", choices=["v1", "v2"], default="v2",
                        help="v2: a resume is one replay frame; v1: one frame per missed message")
    args = parser.parse_args()
    protocol = f"tombola.{args.protocol}"

    raise_fd_limit(args.clients)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    event_id, stream = prepare()
    env = {**os.environ, "SECRET_KEY": "bench-" + secrets.token_hex(16), "DEBUG": "0",
           "SMS_BACKEND": "memory",  # console is refused with DEBUG off
           "LOG_LEVEL": "WARNING", "ALLOWED_HOSTS": "127.0.0.1", "STREAM_FANOUT": "relay",
           "WS_HEARTBEAT_SECONDS": "3600"}
    tmp = Path(tempfile.mkdtemp(prefix="reconnect-storm-"))
    workers = start_workers(env, args.workers, log_dir=tmp)
    path = f"/ws/events/{event_id}/"
    urls = [workers[i % len(workers)].ws_url(path) for i in range(args.clients)]
    context = multiprocessing.get_context("spawn")
    pipes, processes = [], []
    for index in range(args.processes):
        parent_end, child_end = context.Pipe()
        process = context.Process(target=client_process,
                                  args=(child_end, urls[index :: args.processes], args.in_flight,
                                        protocol),
                                  daemon=True)
        process.start()
        pipes.append(parent_end)
        processes.append(process)
    print(f"{args.clients} clients in {args.processes} processes, {args.workers} daphne workers "
          f"(STREAM_FANOUT=relay, Redis + PostgreSQL), stream {stream}; "
          f"{args.missed} messages missed, {args.rate}/s during the storm; "
          f"outage: {args.outage}; protocol {protocol} (a resume is "
          f"{'one replay frame' if args.protocol == 'v2' else 'one frame per missed message'}); "
          f"logs in {tmp}", flush=True)
    try:
        # 1. Baseline: fresh connects with a snapshot, all at once.
        fresh = merge(gather(pipes, "connect", at=time.time() + 0.5, timeout=args.timeout))
        fresh_all, fresh_p50, fresh_p99 = describe("fresh connect + snapshot (baseline)",
                                                   fresh, args.clients)
        # 2. Live messages reach everyone.
        publisher = Publisher(stream, event_id)
        before = publisher.publish(args.live)
        live = merge(gather(pipes, "expect", offset=publisher.offset, target=before,
                            timeout=args.timeout))
        describe(f"live ({args.live} messages)", live, args.clients)
        # 3. Outage; messages published while everyone is away.
        if args.outage == "restart":
            for worker in workers:
                worker.stop()
        still_open = sum(r["open"] for r in gather(pipes, "dropped",
                                                   close=args.outage == "close"))
        assert still_open == 0, f"{still_open} sockets still open after the outage"
        missed_last = publisher.publish(args.missed)
        if args.outage == "restart":
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.wait_healthy()
        # 4. The storm, with the stream still ticking.
        stop = threading.Event()
        start_at = time.time() + 0.5
        ticker = None
        if args.rate > 0:
            ticker = publisher.ticking(args.rate, stop, start_at)
        storm = merge(gather(pipes, "storm", at=start_at, target=missed_last,
                             timeout=args.timeout))
        stop.set()
        if ticker is not None:
            ticker.join()
        final = publisher.offset + publisher.count
        storm_all, storm_p50, storm_p99 = describe(
            f"reconnect with since ({args.missed} missed)", storm, args.clients)
        # 5. Everything published during the storm arrived too, in order.
        after = merge(gather(pipes, "expect", offset=publisher.offset, target=final,
                             timeout=args.timeout))
        describe(f"caught up to seq {final} ({final - missed_last} during the storm)",
                 after, args.clients)
        gather(pipes, "quit")
    finally:
        for process in processes:
            process.join(timeout=10)
            if process.is_alive():
                process.terminate()
        for worker in workers:
            worker.stop()

    # A client fails if it did not recover in time or anything it received was wrong.
    failures = max(args.clients - len(storm["seconds"]), len(after["errors"]))
    ratio = storm_all / fresh_all if fresh_all not in (0, float("inf")) else float("nan")
    met = storm_all <= TARGET_SECONDS and failures == 0
    print(f"all recovered in {storm_all:.2f} s (target {TARGET_SECONDS:.0f} s: "
          f"{'met' if met else 'NOT met'}); ratio to fresh connect: {ratio:.2f}x; "
          f"failures {failures}", flush=True)
    emit_result(
        "reconnect_storm",
        [row(f"reconnect storm, {args.clients:,} clients ({protocol}), all recovered",
             f"{storm_all:.2f} s (p50 {storm_p50:.2f} s, p99 {storm_p99:.2f} s), "
             f"{failures} failed",
             target=f"<= {TARGET_SECONDS:.0f} s, 0 failed", met=met,
             baseline=f"fresh connect + snapshot {fresh_all:.2f} s", ratio=f"{ratio:.2f}x")],
        clients=args.clients, workers=args.workers, processes=args.processes,
        missed=args.missed, rate=args.rate, outage=args.outage, protocol=protocol,
        recovered_all_s=storm_all, recovered_p50_s=storm_p50, recovered_p99_s=storm_p99,
        failures=failures, fresh_all_s=fresh_all, fresh_p50_s=fresh_p50,
        fresh_p99_s=fresh_p99, ratio=ratio, connect_retries=storm["retries"],
    )


if __name__ == "__main__":
    main()
