"""Waiting room (issue 13): a crowd joins the line, watches it move, and buys at the front.

    .venv/bin/python bench/waiting_room.py                    # 20,000 buyers (the issue's size)
    .venv/bin/python bench/waiting_room.py --buyers 2000 --sample 100 --rate 600   # quick

Needs PostgreSQL and Redis (defaults: database tombola_bench_queue, Redis db 12, prefix
tombola-bench-queue; override with DATABASE_URL / REDIS_URL / REDIS_PREFIX). The
database is created if missing and flushed on every run.

The service runs as in production at a sale (docs/scaling.md, "A sale with a waiting
room"): `--workers` daphne workers hold the phones' sockets and `--http-workers` more
serve the HTTP API (nginx's /ws/ and / upstreams; `manage.py serve --no-scheduler`,
STREAM_FANOUT=relay), and one `manage.py run_scheduler` runs the admission job. In one
run:

1. Direct rush, for comparison: bench/hold_contention.py's buyers (its code, imported)
   straight at a sale without a room: `--direct-buyers` for `--direct-seats` seats.
2. Joins: `--buyers` real accounts (JWT) arrive spread over `--arrival-seconds` and
   join the line over HTTP (POST /api/events/<id>/queue/). The sale starts
   `--sale-after` seconds into the window, so the early half is shuffled at the start
   (by the room's secret) and the rest queue first come, first served. Latency counts
   from each buyer's arrival, so a join waiting for a connection counts too.
   The room is paused meanwhile: nobody is admitted until step 4.
3. Sockets: every buyer opens `ws/events/<id>/queue/` (protocol tombola.v2, the JWT as
   subprotocol), from `--socket-processes` client processes (a process holds at most
   RLIMIT_NOFILE sockets); the snapshot carries each buyer's number. For
   `--observe` seconds the scheduler's `queue.progress` messages arrive at the line's
   cadence (every 5 s for 20,000 waiting, every 2 s for 2,000): delivery = receipt -
   the message's `ts` (the publish), over every socket; a seq gap, an error frame or a
   closed socket is an error.
4. Admission: staff resume the room at `--rate` a minute. Each buyer's socket tells it
   its turn (the `queue.turn` notice, or a progress that served its number); the first
   `--sample` buyers then GET their pass, hold
   1-2 chosen seats and buy them with it (Queue-Pass), while the rest of the line
   waits and keeps getting progress. A buyer still in line tries a hold without a pass
   (must be 403 queue_required).
5. Checks: every buyer has a number, the numbers are 1..N; a number seen twice (join
   answer, snapshot) is the same; the buyers who joined before the sale are in the
   order of `early_score(secret, user)`; the admission log
   (`queue_line().admitted_log`) is the line's first buyers in order, nobody twice,
   nobody skipped; the sample's purchases sold exactly their seats.

Printed: a table (figure, target, result, met?) and the `BENCH_RESULT` line
bench/run.py collects.
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
import subprocess
import sys
import tempfile
import time
from array import array
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/tombola_bench_queue")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/12")
os.environ.setdefault("REDIS_PREFIX", "tombola-bench-queue")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "core.settings")

import hold_contention  # noqa: E402  (after the defaults above: it sets its own otherwise)
from _common import (  # noqa: E402
    RawHTTPClient,
    RawWebSocket,
    access_tokens,
    emit_result,
    funded_buyers,
    percentile,
    raise_fd_limit,
    row,
    setup_django,
    start_workers,
    venue_with_seats,
)

# The workers verify the tokens hold_contention signs for its buyers: one key for both.
SECRET_KEY = hold_contention.SECRET_KEY
PRICE = 1_000
UPDATE_TARGET_MS = 2_000  # a position update reaches every phone within one publish period
SALE_TARGET_MS = 250  # issue 13: admitted buyers' hold and purchase p99


def ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU the processes used so far."""
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


# --- client processes: sockets, and the sample buyers at the front -------------------------


class Buyer:
    """One buyer's phone: its socket, its number, and (in the sample) its purchase."""

    __slots__ = ("http_port", "number", "port", "seq", "started", "state", "token",
                 "user_id", "ws")

    def __init__(self, user_id: int, token: str, port: int, http_port: int) -> None:
        self.user_id, self.token, self.port, self.http_port = user_id, token, port, http_port
        self.ws = None
        self.number: int | None = None
        self.state: str | None = None
        self.seq: int | None = None
        self.started = False  # its turn came and it went to buy


class Shard:
    """The buyers of one client process."""

    def __init__(self, buyers: list[Buyer], event_id: int) -> None:
        self.buyers = buyers
        self.event_id = event_id
        self.phase = "connect"
        self.latency: dict[str, array] = {}  # phase -> delivery latencies (s)
        self.errors: list[str] = []
        self.frames = 0
        self.sample = 0  # buyers numbered up to this buy when their turn comes
        self.seats: dict[int, list[int]] = {}
        self.http: RawHTTPClient | None = None
        self.purchases: list[asyncio.Task] = []

    def error(self, what: str) -> None:
        if len(self.errors) < 1000:
            self.errors.append(what)

    def on_text(self, buyer: Buyer, text: bytes, received_at: float) -> None:
        self.frames += 1
        frame = json.loads(text)
        if "stream" not in frame:
            if frame.get("type") == "error":
                self.error(f"error frame {frame.get('code')}")
            return
        kind = frame.get("type")
        if kind == "queue.turn":  # a notice: no seq; this buyer was admitted
            if "seq" in frame or buyer.number is None:
                self.error(f"turn notice {frame}")
            self.latency.setdefault("turn", array("d")).append(received_at - frame["ts"])
            self.turn(buyer, received_at)
            return
        if kind == "snapshot":
            if buyer.seq is not None:
                self.error("snapshot again" + (" (reset)" if frame.get("reset") else ""))
            me = frame["data"].get("me") or {}
            buyer.seq, buyer.number, buyer.state = frame["seq"], me.get("number"), me.get("state")
            return
        if kind != "queue.progress":
            self.error(f"unexpected {kind}")
            return
        seq = frame["seq"]
        if buyer.seq is None or seq != buyer.seq + 1:
            self.error(f"seq {seq} after {buyer.seq}")
        buyer.seq = max(seq, buyer.seq or 0)
        self.latency.setdefault(self.phase, array("d")).append(received_at - frame["ts"])
        # position = number - served: at 0 it is this buyer's turn
        if buyer.number is not None and buyer.number <= frame["data"]["served"]:
            self.turn(buyer, received_at)

    def turn(self, buyer: Buyer, received_at: float) -> None:
        if not buyer.started and buyer.number is not None and buyer.number <= self.sample:
            buyer.started = True
            self.purchases.append(asyncio.ensure_future(self.buy(buyer, received_at)))

    async def connect(self, in_flight: int) -> dict:
        gate = asyncio.Semaphore(in_flight)
        started = time.time()
        failed: list[str] = []

        async def one(buyer: Buyer) -> None:
            async with gate:
                for attempt in range(5):
                    try:
                        buyer.ws = await RawWebSocket.connect(
                            "127.0.0.1", buyer.port, f"/ws/events/{self.event_id}/queue/",
                            on_text=lambda text, at, b=buyer: self.on_text(b, text, at),
                            subprotocols=("tombola.v2", f"jwt.{buyer.token}"))
                        break
                    except (OSError, TimeoutError, ConnectionError) as exc:
                        if attempt == 4:
                            failed.append(f"connect: {type(exc).__name__}: {exc}")
                            return
                        await asyncio.sleep(0.2 * (attempt + 1))
                # Counted as connected when the snapshot is in (what a phone shows).
                deadline = time.time() + 60
                while buyer.seq is None and not buyer.ws.closed and time.time() < deadline:
                    await asyncio.sleep(0.02)
                if buyer.seq is None:
                    failed.append("no snapshot")

        await asyncio.gather(*(one(b) for b in self.buyers))
        self.errors.extend(failed)
        return {"seconds": time.time() - started, "failed": len(failed),
                "numbers": {b.user_id: b.number for b in self.buyers if b.seq is not None},
                "states": {b.user_id: b.state for b in self.buyers if b.seq is not None}}

    async def buy(self, buyer: Buyer, turn_at: float) -> dict:
        """Its number was served: the pass, a hold of its seats, the purchase."""
        base = f"http://127.0.0.1:{buyer.http_port}"
        auth = {"Authorization": f"Bearer {buyer.token}"}
        result = {"number": buyer.number, "user": buyer.user_id}
        try:
            started = time.time()
            admission = None
            for _ in range(20):  # the progress message follows the admission: at once
                status, body = await self.http.request(
                    "GET", f"{base}/api/events/{self.event_id}/queue/", headers=auth)
                admission = json.loads(body).get("admission") if status == 200 else None
                if admission:
                    break
                await asyncio.sleep(0.25)
            result["pass_ms"] = ms(time.time() - started)
            result["turn_to_pass_ms"] = ms(time.time() - turn_at)
            if not admission:
                result["error"] = f"no pass (last status {status})"
                return result
            gate = {**auth, "Queue-Pass": admission["token"]}
            seats = self.seats[buyer.number]
            started = time.time()
            status, body = await self.http.request(
                "POST", f"{base}/api/events/{self.event_id}/holds/",
                json_body={"seat_ids": seats}, headers=gate)
            result["hold_ms"], result["hold_status"] = ms(time.time() - started), status
            if status != 201:
                result["error"] = f"hold {status}: {body[:200]!r}"
                return result
            token = json.loads(body)["token"]
            started = time.time()
            status, body = await self.http.request(
                "POST", f"{base}/api/holds/{token}/purchase/",
                headers={**gate, "Idempotency-Key": secrets.token_hex(8)})
            result["purchase_ms"], result["purchase_status"] = ms(time.time() - started), status
            if status != 201:
                result["error"] = f"purchase {status}: {body[:200]!r}"
            else:
                result["seats"] = len(seats)
        except Exception as exc:  # reported, not raised: the rest of the sample goes on
            result["error"] = f"{type(exc).__name__}: {exc}"
        return result

    def report(self) -> dict:
        closed = sum(1 for b in self.buyers if b.ws is not None and b.ws.closed)
        errors = list(self.errors)
        if closed:
            errors.append(f"{closed} sockets closed by the server")
        return {"latency": {phase: values.tobytes() for phase, values in self.latency.items()},
                "errors": errors, "frames": self.frames,
                "open": sum(1 for b in self.buyers if b.ws is not None and not b.ws.closed)}


def client_process(conn, rows: list[tuple[int, str, int, int]], event_id: int,
                   in_flight: int, nice: int = 0) -> None:
    if nice:
        os.nice(nice)
    raise_fd_limit(len(rows))
    asyncio.run(client_main(conn, rows, event_id, in_flight))


async def client_main(conn, rows, event_id: int, in_flight: int) -> None:
    loop = asyncio.get_running_loop()
    shard = Shard([Buyer(*r) for r in rows], event_id)
    shard.http = RawHTTPClient(limit=64)
    while True:
        command, args = await loop.run_in_executor(None, conn.recv)
        if command == "connect":
            conn.send(await shard.connect(in_flight))
        elif command == "phase":
            shard.phase = args["name"]
            conn.send("ok")
        elif command == "admit":
            shard.sample, shard.seats = args["sample"], args["seats"]
            conn.send(sum(1 for b in shard.buyers
                          if b.number is not None and b.number <= shard.sample))
        elif command == "purchases":  # wait for this shard's sample to be done
            wanted = sum(1 for b in shard.buyers
                         if b.number is not None and b.number <= shard.sample)
            deadline = time.time() + args["timeout"]
            while len(shard.purchases) < wanted and time.time() < deadline:
                await asyncio.sleep(0.1)
            done = await asyncio.gather(*shard.purchases) if shard.purchases else []
            conn.send({"results": done, "missing": wanted - len(done)})
        elif command == "report":
            conn.send(shard.report())
        elif command == "quit":
            for buyer in shard.buyers:
                if buyer.ws is not None:
                    buyer.ws.close()
            shard.http.close()
            await asyncio.sleep(0.5)
            conn.send("bye")
            return


def gather(pipes, command: str, **args) -> list:
    for pipe in pipes:
        pipe.send((command, args))
    return [pipe.recv() for pipe in pipes]


# --- the parent: sale, workers, scheduler, joins, staff actions, checks ---------------------


def setup_queue_sale(buyers: int, seats: int):
    """The waiting room's event (its sale starts in an hour until the joins begin),
    its buyers (funded, with tokens) and a superuser for the staff API."""
    from django.utils import timezone

    from core.models import Event, User
    from ticketing.services import layout

    venue, seat_ids = venue_with_seats(name="Queue Arena", section="Main", seats=seats,
                                       per_row=25)
    event = Event.objects.create(title="On sale", starts_at=timezone.now() + timedelta(days=2),
                                 venue=venue, status="published")
    layout.event_prices_set(event=event, prices={venue.sections.get().pk: PRICE})
    layout.sale_configure(event=event, sale_starts_at=timezone.now() + timedelta(hours=1),
                          max_seats_per_order=4)
    users = funded_buyers(count=buyers, balance=10_000, email_prefix="queued")
    staff = User.objects.create(email="staff@bench.local", password="!", is_staff=True,
                                is_superuser=True)
    tokens = access_tokens([*users, staff], secret=SECRET_KEY,
                           lifetime=timedelta(hours=2))
    return event, seat_ids, [u.pk for u in users], tokens[:-1], tokens[-1]


def sale_starts(event_id: int, at: float) -> None:
    """Move the sale's start (the room's opening moves with it, synced to Redis)."""
    from django.db import connection

    from core.models import Event
    from ticketing.services import layout

    event = Event.objects.get(pk=event_id)
    layout.sale_configure(event=event, sale_starts_at=datetime.fromtimestamp(at, tz=UTC),
                          max_seats_per_order=4)
    connection.close()


def start_scheduler(env: dict[str, str], log_dir: Path) -> subprocess.Popen:
    log = open(log_dir / "scheduler.log", "ab")  # noqa: SIM115
    process = subprocess.Popen([sys.executable, "manage.py", "run_scheduler"], cwd=ROOT,
                               env=env, stdout=log, stderr=subprocess.STDOUT)
    log.close()
    deadline = time.time() + 60
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the scheduler exited (log {log_dir / 'scheduler.log'})")
        if b"Scheduler running" in (log_dir / "scheduler.log").read_bytes():
            return process
        time.sleep(0.1)
    raise RuntimeError("the scheduler did not start")


class Staff:
    def __init__(self, client: RawHTTPClient, base: str, event_id: int, token: str) -> None:
        self.client, self.base, self.event_id = client, base, event_id
        self.auth = {"Authorization": f"Bearer {token}"}

    async def call(self, method: str, action: str = "", body=None) -> dict:
        url = f"{self.base}/api/events/{self.event_id}/waiting-room/{action}"
        status, answer = await self.client.request(method, url, json_body=body,
                                                   headers=self.auth)
        if status not in (200, 201):
            raise RuntimeError(f"{method} {url}: {status} {answer[:300]!r}")
        return json.loads(answer)


async def joins(client: RawHTTPClient, ports: list[int], event_id: int, tokens: list[str],
                start: float, window: float) -> list[dict]:
    """Every buyer joins once at its arrival time (spread evenly over the window, in a
    shuffled order); latency from the arrival."""
    order = list(range(len(tokens)))
    random.Random(13).shuffle(order)
    arrivals = [0.0] * len(tokens)
    for slot, index in enumerate(order):
        arrivals[index] = start + window * slot / len(tokens)
    results: list[dict] = [{} for _ in tokens]

    async def one(index: int) -> None:
        await asyncio.sleep(max(0.0, arrivals[index] - time.time()))
        url = f"http://127.0.0.1:{ports[index % len(ports)]}/api/events/{event_id}/queue/"
        try:
            status, body = await client.request(
                "POST", url, headers={"Authorization": f"Bearer {tokens[index]}"})
        except Exception as exc:
            results[index] = {"status": 0, "error": f"{type(exc).__name__}: {exc}"}
            return
        done = time.time()
        entry = {"status": status, "ms": (done - arrivals[index]) * 1000, "done": done,
                 "arrival": arrivals[index]}
        if status in (200, 201):
            me = json.loads(body)["me"]
            entry["number"], entry["state"] = me["number"], me["state"]
        else:
            entry["error"] = body[:200].decode(errors="replace")
        results[index] = entry

    await asyncio.gather(*(one(i) for i in range(len(tokens))))
    return results


async def gate_check(client: RawHTTPClient, port: int, event_id: int, token: str,
                     seat_id: int) -> list[str]:
    """A buyer still in line holds without a pass, then with a forged one: 403 both."""
    problems = []
    url = f"http://127.0.0.1:{port}/api/events/{event_id}/holds/"
    for name, extra in (("no pass", {}), ("forged pass", {"Queue-Pass": "forged:pass"})):
        status, body = await client.request(
            "POST", url, json_body={"seat_ids": [seat_id]},
            headers={"Authorization": f"Bearer {token}", **extra})
        code = json.loads(body).get("code") if body else None
        if (status, code) != (403, "queue_required"):
            problems.append(f"hold with {name}: {status} {code}")
    return problems


def fairness(*, user_ids: list[int], numbers: dict[int, int], joined_early: list[int],
             secret: str, log: list[int]) -> dict:
    """The line against what every buyer saw: numbers 1..N, early joiners in secret
    hash order, the admission log = the line's front, in order, nobody twice."""
    from ticketing.queue_line import early_score

    missing = [u for u in user_ids if numbers.get(u) is None]
    placed = sorted(n for n in numbers.values() if n is not None)
    by_number = {n: u for u, n in numbers.items() if n is not None}
    early_by_number = sorted(joined_early, key=lambda u: numbers.get(u) or 0)
    early_by_hash = sorted(joined_early, key=lambda u: early_score(secret, u))
    twice = len(log) - len(set(log))
    admitted = set(log)
    out_of_order = sum(1 for i, u in enumerate(log) if by_number.get(i + 1) != u)
    return {
        "buyers": len(user_ids),
        "without_number": len(missing),
        "numbers_are_1_to_n": placed == list(range(1, len(user_ids) + 1)),
        "joined_early": len(joined_early),
        "early_in_hash_order": early_by_number == early_by_hash,
        "admitted": len(log),
        "admitted_twice": twice,
        "admitted_out_of_order": out_of_order,
        # Skipped: someone behind an admitted buyer was admitted while they were not.
        "skipped": sum(1 for n in range(1, len(log) + 1) if by_number.get(n) not in admitted),
    }


async def queue_run(args, *, ports: list[int], pids: list[int], event_id: int,
                    user_ids: list[int], tokens: list[str], staff_token: str,
                    seat_ids: list[int], pipes) -> dict:
    client = RawHTTPClient(limit=args.in_flight)
    staff = Staff(client, f"http://127.0.0.1:{ports[0]}", event_id, staff_token)
    out: dict = {}
    try:
        # The room, paused: joins go on, nobody is admitted before step 4.
        room = await staff.call("PUT", body={
            "mode": "fixed", "rate_per_minute": args.rate, "opens_minutes_before_sale": 120,
            "pass_minutes": 10})
        await staff.call("POST", "pause/")
        start = time.time() + 2
        sale_at = start + args.sale_after
        await asyncio.to_thread(sale_starts, event_id, sale_at)
        print(f"joins: {len(tokens):,} buyers over {args.arrival_seconds:g} s from "
              f"{datetime.fromtimestamp(start, tz=UTC):%H:%M:%S}; the sale starts "
              f"{args.sale_after:g} s in (earlier joiners are shuffled at the start)",
              flush=True)
        cpu = cpu_seconds(pids)
        joined = await joins(client, ports, event_id, tokens, start, args.arrival_seconds)
        out["joins"] = joined
        ok = [j for j in joined if j.get("status") in (200, 201)]
        out["join_cpu_ms"] = (cpu_seconds(pids) - cpu) * 1000 / max(1, len(ok))
        last = max((j["done"] for j in ok), default=start)
        out["join_seconds"] = last - start
        print(f"joins answered: {len(ok):,}/{len(joined):,} in {last - start:.1f} s "
              f"(p50 {percentile([j['ms'] for j in ok], 50):.0f} ms, "
              f"p99 {percentile([j['ms'] for j in ok], 99):.0f} ms; "
              f"{out['join_cpu_ms']:.2f} ms of worker CPU a join)", flush=True)
        await asyncio.sleep(max(0.0, sale_at + 1 - time.time()))  # numbers exist from here

        # Sockets: every buyer watches its place.
        replies = await asyncio.to_thread(gather, pipes, "connect")
        numbers: dict[int, int] = {}
        for reply in replies:
            numbers.update({int(u): n for u, n in reply["numbers"].items() if n is not None})
        out["sockets_open"] = sum(len(r["numbers"]) for r in replies)
        out["connect_seconds"] = max(r["seconds"] for r in replies)
        out["connect_failed"] = sum(r["failed"] for r in replies)
        print(f"sockets: {out['sockets_open']:,} open with their snapshot in "
              f"{out['connect_seconds']:.1f} s ({out['connect_failed']} failed)", flush=True)
        # Buyers without a socket (when not all fit) read their number once.
        async def read_number(index: int) -> None:
            status, body = await client.request(
                "GET", f"http://127.0.0.1:{ports[index % len(ports)]}/api/events/"
                f"{event_id}/queue/", headers={"Authorization": f"Bearer {tokens[index]}"})
            if status == 200:
                numbers[user_ids[index]] = json.loads(body)["me"]["number"]

        await asyncio.gather(*(read_number(i) for i, user_id in enumerate(user_ids)
                               if user_id not in numbers))
        out["numbers"] = numbers

        await asyncio.to_thread(gather, pipes, "phase", name="observe")
        await asyncio.sleep(args.observe)

        # Admission: the front buys while the line waits.
        await asyncio.to_thread(gather, pipes, "phase", name="admit")
        seats_of, offset = {}, 0
        for number in range(1, args.sample + 1):
            count = 1 + number % 2
            seats_of[number] = seat_ids[offset:offset + count]
            offset += count
        sample = sum(await asyncio.to_thread(gather, pipes, "admit", sample=args.sample,
                                             seats=seats_of))
        admit_started = time.time()
        await staff.call("POST", "resume/")
        last_in_line = max(numbers, key=lambda u: numbers[u])
        out["gate_problems"] = await gate_check(
            client, ports[0], event_id, tokens[user_ids.index(last_in_line)], seat_ids[-1])
        timeout = args.sample / (args.rate / 60) * 3 + 30
        done = await asyncio.to_thread(gather, pipes, "purchases", timeout=timeout)
        out["admit_seconds"] = time.time() - admit_started
        out["purchases"] = [r for reply in done for r in reply["results"]]
        # With fewer sockets than buyers, the sample is the buyers among the first
        # --sample who hold a socket (the others never hear their turn).
        out["purchases_missing"] = sum(reply["missing"] for reply in done)
        out["sample_with_sockets"] = sample
        figures = (await staff.call("GET"))["figures"]
        out["length_at_end"] = figures["length"]
        await staff.call("POST", "pause/")
        await asyncio.sleep(2.5)  # the last progress messages land
        out["figures"] = (await staff.call("GET"))["figures"]
        out["reports"] = await asyncio.to_thread(gather, pipes, "report")
        out["room"] = room
        out["sale_at"] = sale_at
    finally:
        client.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--buyers", type=int, default=20_000)
    parser.add_argument("--arrival-seconds", type=float, default=10.0)
    parser.add_argument("--sale-after", type=float, default=5.0,
                        help="the sale starts this long into the arrival window")
    parser.add_argument("--sockets", type=int, help="buyers with a socket (default: all)")
    parser.add_argument("--socket-processes", type=int, default=2,
                        help="client processes holding the sockets")
    parser.add_argument("--observe", type=float, default=12.0,
                        help="seconds of progress before admission starts")
    parser.add_argument("--rate", type=int, default=1200, help="admitted a minute")
    parser.add_argument("--sample", type=int, default=300,
                        help="the first buyers admitted hold and buy")
    parser.add_argument("--workers", type=int, default=2,
                        help="daphne workers holding the phones' sockets")
    parser.add_argument("--http-workers", type=int, default=2,
                        help="daphne workers serving the HTTP API (0: the socket workers "
                             "serve it too)")
    parser.add_argument("--socket-nice", type=int, default=0, choices=range(20),
                        metavar="0-19",
                        help="niceness added to the socket workers and the phones' client "
                             "processes (which also run the sampled buyers' sale requests): "
                             "the HTTP workers before the line's fan-out; with "
                             "--http-workers 0 the HTTP goes to the niced workers")
    parser.add_argument("--in-flight", type=int, default=256,
                        help="HTTP connections of the joining crowd")
    parser.add_argument("--connects-in-flight", type=int, default=100,
                        help="WebSocket handshakes in flight per client process")
    parser.add_argument("--direct-buyers", type=int, default=2000)
    parser.add_argument("--direct-seats", type=int, default=500)
    parser.add_argument("--direct-in-flight", type=int, default=60)
    args = parser.parse_args()
    sockets = args.buyers if args.sockets is None else min(args.sockets, args.buyers)

    # The workers inherit this limit: each holds its share of the sockets.
    raise_fd_limit(max(args.in_flight, sockets // args.workers) + 500)
    started = time.perf_counter()
    setup_django()  # created if missing, migrated; then emptied (in process: no start-up)
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    call_command("flush", interactive=False, verbosity=0)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    from django.db.models import Count

    from ticketing.models import Order, Ticket, WaitingRoom
    from ticketing.queue_line import queue_line

    direct_event, direct_seats, direct_tokens = hold_contention.setup_sale(
        args.direct_buyers, args.direct_seats)  # (flushes the Redis prefix first)
    event, seat_ids, user_ids, tokens, staff_token = setup_queue_sale(
        args.buyers, max(2 * args.sample + 10, 100))
    connection.close()
    print(f"setup: {args.buyers:,} + {args.direct_buyers:,} buyers with tokens in "
          f"{time.perf_counter() - started:.1f} s", flush=True)

    env = {**os.environ, "SECRET_KEY": SECRET_KEY, "DEBUG": "0", "LOG_LEVEL": "WARNING",
           "SMS_BACKEND": "memory", "ALLOWED_HOSTS": "127.0.0.1", "STREAM_FANOUT": "relay",
           "WS_HEARTBEAT_SECONDS": "3600", "THROTTLE_SEAT_HOLDS": "100000/min",
           "THROTTLE_QUEUE": "1000000/min",
           # 20,000 phones from one client address: the per-address cap (5,000 per worker)
           # stands for a proxy in front, not for this benchmark.
           "WS_MAX_CONNECTIONS_PER_ADDRESS": "0"}
    tmp = Path(tempfile.mkdtemp(prefix="waiting-room-"))
    workers = start_workers(env, args.workers, log_dir=tmp, nice=args.socket_nice)
    try:
        workers += start_workers(env, args.http_workers, log_dir=tmp, first=args.workers)
    except BaseException:
        for worker in workers:
            worker.stop()
        raise
    scheduler = None
    processes, pipes = [], []
    ports = [w.port for w in workers[:args.workers]]  # the sockets'
    http_ports = [w.port for w in workers[args.workers:]] or ports
    try:
        scheduler = start_scheduler(env, tmp)
        print(f"{args.workers} daphne workers for sockets, {args.http_workers} for HTTP, "
              f"1 scheduler; logs in {tmp}", flush=True)

        # 1. The direct rush (no room), bench/hold_contention.py's buyers.
        direct = asyncio.run(hold_contention.run_buyers(
            http_ports, direct_event.pk, direct_seats, direct_tokens, args.direct_in_flight))
        direct_purchase_p99 = percentile(direct["purchase_ms"], 99)
        print(f"direct rush: {args.direct_buyers:,} buyers, {direct['purchases']} purchases, "
              f"hold p99 {percentile(direct['hold_ms'], 99):.0f} ms, purchase p99 "
              f"{direct_purchase_p99:.0f} ms, {direct['errors']} errors", flush=True)

        # 2-4. The waiting room. Sockets in client processes (RLIMIT_NOFILE per process).
        rows = [(user_ids[i], tokens[i], ports[i % len(ports)], http_ports[i % len(http_ports)])
                for i in range(sockets)]
        context = multiprocessing.get_context("spawn")
        share = -(-len(rows) // args.socket_processes)
        for index in range(args.socket_processes):
            part = rows[index * share:(index + 1) * share]
            parent_end, child_end = context.Pipe()
            process = context.Process(target=client_process, daemon=True, args=(
                child_end, part, event.pk, args.connects_in_flight, args.socket_nice))
            process.start()
            pipes.append(parent_end)
            processes.append(process)
        queue = asyncio.run(queue_run(
            args, ports=http_ports,
            pids=[w.process.pid for w in workers[args.workers:] or workers], event_id=event.pk,
            user_ids=user_ids, tokens=tokens, staff_token=staff_token, seat_ids=seat_ids,
            pipes=pipes))
        gather(pipes, "quit")
    finally:
        for process in processes:
            process.join(timeout=10)
            if process.is_alive():
                process.terminate()
        if scheduler is not None:
            scheduler.terminate()
            scheduler.wait(timeout=15)
        for worker in workers:
            worker.stop()
    minutes = (time.perf_counter() - started) / 60

    # --- checks and figures ---
    joined = queue["joins"]
    join_ok = [j for j in joined if j.get("status") in (200, 201)]
    join_errors = len(joined) - len(join_ok)
    join_ms = [j["ms"] for j in join_ok]
    join_rate = len(join_ok) / queue["join_seconds"] if queue["join_seconds"] else 0.0
    numbers = queue["numbers"]
    changed = sum(1 for u, j in zip(user_ids, joined, strict=True)
                  if j.get("number") is not None and numbers.get(u) != j["number"])
    joined_early = [u for u, j in zip(user_ids, joined, strict=True)
                    if j.get("status") in (200, 201) and j.get("number") is None]
    room = WaitingRoom.objects.get(event_id=event.pk)
    log = queue_line().admitted_log(event.pk)
    fair = fairness(user_ids=user_ids, numbers=numbers, joined_early=joined_early,
                    secret=room.secret, log=log)
    fair["number_changed"] = changed

    latency = {}
    for report in queue["reports"]:
        for phase, raw in report["latency"].items():
            values = array("d")
            values.frombytes(raw)
            latency.setdefault(phase, []).extend(v * 1000 for v in values)
    updates = latency.get("observe", []) + latency.get("admit", [])
    socket_errors = [e for r in queue["reports"] for e in r["errors"]]
    still_open = sum(r["open"] for r in queue["reports"])

    bought = queue["purchases"]
    sale_errors = [p for p in bought if p.get("error")]
    hold_ms = [p["hold_ms"] for p in bought if "hold_ms" in p]
    purchase_ms = [p["purchase_ms"] for p in bought if "purchase_ms" in p]
    pass_ms = [p["turn_to_pass_ms"] for p in bought if "turn_to_pass_ms" in p]
    seats_bought = sum(p.get("seats", 0) for p in bought)
    tickets = Ticket.objects.filter(event=event, status="valid")
    oversold = tickets.values("seat_id").annotate(n=Count("id")).filter(n__gt=1).count()
    orders = Order.objects.filter(event=event).count()

    figures = {
        "buyers": args.buyers, "workers": args.workers, "http_workers": args.http_workers,
        "rate_per_minute": args.rate, "socket_nice": args.socket_nice,
        "admit_seconds": settings.WAITING_ROOM_ADMIT_SECONDS,
        "sample": args.sample, "minutes": round(minutes, 2),
        "load_average_end": os.getloadavg(),
        "join": {"answered": len(join_ok), "errors": join_errors,
                 "p50_ms": round(percentile(join_ms, 50), 1),
                 "p99_ms": round(percentile(join_ms, 99), 1),
                 "max_ms": round(max(join_ms, default=float("nan")), 1),
                 "per_second": round(join_rate, 1),
                 "worker_cpu_ms_per_join": round(queue["join_cpu_ms"], 2),
                 "seconds": round(queue["join_seconds"], 2),
                 "error_samples": [j.get("error") for j in joined if j.get("error")][:5]},
        "sockets": {"wanted": sockets, "open_with_snapshot": queue["sockets_open"],
                    "still_open_at_end": still_open,
                    "connect_seconds": round(queue["connect_seconds"], 1),
                    "errors": len(socket_errors), "error_samples": socket_errors[:5],
                    "updates_received": len(updates),
                    "update_p50_ms": round(percentile(updates, 50), 1),
                    "update_p99_ms": round(percentile(updates, 99), 1),
                    "observe_p99_ms": round(percentile(latency.get("observe", []), 99), 1),
                    "admit_p99_ms": round(percentile(latency.get("admit", []), 99), 1),
                    "turn_notices": len(latency.get("turn", [])),
                    "turn_p99_ms": round(percentile(latency.get("turn", []), 99), 1)},
        "sale": {"sample_done": len(bought), "missing": queue["purchases_missing"],
                 "errors": len(sale_errors), "error_samples": [p["error"] for p in
                                                               sale_errors[:5]],
                 "hold_p50_ms": round(percentile(hold_ms, 50), 1),
                 "hold_p99_ms": round(percentile(hold_ms, 99), 1),
                 "purchase_p50_ms": round(percentile(purchase_ms, 50), 1),
                 "purchase_p99_ms": round(percentile(purchase_ms, 99), 1),
                 "turn_to_pass_p99_ms": round(percentile(pass_ms, 99), 1),
                 "seats_bought": seats_bought, "tickets": tickets.count(),
                 "oversold": oversold, "orders": orders,
                 "line_length_at_end": queue["length_at_end"],
                 "admit_seconds": round(queue["admit_seconds"], 1),
                 "gate_problems": queue["gate_problems"]},
        "fairness": fair,
        "room_figures": queue["figures"],
        "direct": {"buyers": args.direct_buyers, "seats": args.direct_seats,
                   "purchases": direct["purchases"], "errors": direct["errors"],
                   "hold_p99_ms": round(percentile(direct["hold_ms"], 99), 1),
                   "purchase_p50_ms": round(percentile(direct["purchase_ms"], 50), 1),
                   "purchase_p99_ms": round(direct_purchase_p99, 1),
                   "seconds": round(direct["seconds"], 1)},
    }
    print(json.dumps(figures, indent=2, default=str))

    s, sale, d = figures["sockets"], figures["sale"], figures["direct"]
    all_placed = fair["without_number"] == 0 and fair["numbers_are_1_to_n"] and not changed
    join_met = all_placed and join_errors == 0
    sockets_met = (queue["sockets_open"] == args.buyers and not socket_errors
                   and still_open == queue["sockets_open"] and updates
                   and s["update_p99_ms"] < UPDATE_TARGET_MS)
    sale_met = (not sale_errors and not queue["purchases_missing"] and hold_ms
                and sale["hold_p99_ms"] < SALE_TARGET_MS
                and sale["purchase_p99_ms"] < SALE_TARGET_MS
                and not oversold and tickets.count() == seats_bought)
    fair_met = (fair["admitted"] > 0 and fair["admitted_twice"] == 0 and fair["skipped"] == 0
                and fair["admitted_out_of_order"] == 0 and fair["early_in_hash_order"]
                and not queue["gate_problems"])
    room_p99 = max(sale["purchase_p99_ms"], 0.1)
    fits = "" if sockets == args.buyers else f" (of {args.buyers:,}: --sockets)"
    rows = [
        row(f"{args.buyers:,} buyers join over HTTP within {args.arrival_seconds:g} s "
            f"({args.http_workers or args.workers} HTTP workers)",
            f"p50 {figures['join']['p50_ms']:.0f} ms, p99 {figures['join']['p99_ms']:.0f} ms "
            f"from arrival; {join_rate:,.0f} joins/s "
            f"({queue['join_cpu_ms']:.1f} ms worker CPU each); "
            f"{args.buyers - fair['without_number']:,}/{args.buyers:,} placed "
            f"(numbers 1..N{'' if fair['numbers_are_1_to_n'] else ' NOT'}); "
            f"{join_errors} errors",
            target="every buyer placed, 0 errors", met=join_met,
            baseline=f"direct rush: {args.direct_buyers:,} buyers answered in "
                     f"{d['seconds']:.0f} s", ratio=None),
        row(f"position updates to {queue['sockets_open']:,} sockets{fits} "
            "(queue.progress, publish -> receipt)",
            f"p99 {s['update_p99_ms']:.0f} ms (p50 {s['update_p50_ms']:.0f}; "
            f"waiting {s['observe_p99_ms']:.0f}, moving {s['admit_p99_ms']:.0f}) over "
            f"{len(updates):,} deliveries; queue.turn p99 {s['turn_p99_ms']:.0f} ms to "
            f"{s['turn_notices']:,} admitted; all connected in {s['connect_seconds']:.0f} s; "
            f"{len(socket_errors)} errors",
            target=f"a socket per buyer, p99 < {UPDATE_TARGET_MS:,} ms, 0 errors",
            met=bool(sockets_met), baseline=None, ratio=None),
        row(f"admitted buyers hold + buy with their pass ({len(bought)} of them, "
            f"{args.rate}/min, line {queue['length_at_end']:,} long)",
            f"hold p99 {sale['hold_p99_ms']:.0f} ms (p50 {sale['hold_p50_ms']:.0f}), "
            f"purchase p99 {sale['purchase_p99_ms']:.0f} ms "
            f"(p50 {sale['purchase_p50_ms']:.0f}); {len(sale_errors)} errors, "
            f"{oversold} oversold",
            target=f"hold and purchase p99 < {SALE_TARGET_MS} ms", met=bool(sale_met),
            baseline=f"direct rush purchase p99 {d['purchase_p99_ms']:.0f} ms "
                     f"({args.direct_buyers:,} buyers, {args.direct_seats} seats)",
            ratio=f"{d['purchase_p99_ms'] / room_p99:.1f}x faster"),
        row("admission order (admitted_log vs every buyer's number)",
            f"{fair['admitted']:,} admitted: {fair['admitted_twice']} twice, "
            f"{fair['skipped']} skipped, {fair['admitted_out_of_order']} out of order; "
            f"{fair['joined_early']:,} early joiners in secret-hash order: "
            f"{'yes' if fair['early_in_hash_order'] else 'NO'}; hold without a pass: "
            f"{'403' if not queue['gate_problems'] else queue['gate_problems']}",
            target="0 twice, 0 skipped, in line order", met=bool(fair_met),
            baseline=None, ratio=None),
    ]
    emit_result("waiting_room", rows, **figures)
    if not (join_met and fair_met):
        sys.exit(1)


if __name__ == "__main__":
    main()
