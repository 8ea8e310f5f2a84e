"""Gate scanning benchmark: 20,000 scans from 10 concurrent gates over HTTP against daphne.

    python bench/gate_scan.py                       # 18,000 tickets, 20,000 scans, 10 gates
    python bench/gate_scan.py --tickets 1800 --scans 2000   # what bench/run.py --quick runs

Needs PostgreSQL and Redis (defaults: database tombola_bench_gates, Redis db 13, prefix
tombola-bench-gates; override with DATABASE_URL / REDIS_URL / REDIS_PREFIX). The bench
database is created if missing and flushed on every run.

Every ticket is scanned once, in random order, and the rest of the scans are tickets
scanned again at another gate (answered `already_used`). Each gate is one device: it
sends a scan, waits for the answer, sends the next (10 gates: 10 scans in flight).
Printed: scans per second over HTTP, latency p50/p99, the answers, redemptions (must
equal the tickets scanned: exactly once), and, measured in the same run, the Ed25519
signature check alone (ticketing/ticket_code_format.verify) as the baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import random
import secrets
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/tombola_bench_gates")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/13")
os.environ.setdefault("REDIS_PREFIX", "tombola-bench-gates")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "core.settings")
SECRET_KEY = "bench-" + secrets.token_hex(16)

from _common import (  # noqa: E402
    RawHTTPClient,
    access_tokens,
    emit_result,
    ensure_database,
    flush_redis_prefix,
    manage,
    percentile,
    row,
    start_workers,
    venue_with_seats,
)


def setup_entry(tickets: int, gates: int):
    """An event with `tickets` sold tickets (bulk rows: the sale is not what is measured),
    `gates` gates and one gate account each; -> (event, codes, gate names, tokens)."""
    from datetime import timedelta

    from django.contrib.auth.models import Permission
    from django.utils import timezone

    from core.models import Event, User
    from ticketing.models import Order, Ticket
    from ticketing.services.gates import gate_create
    from ticketing.services.ticket_codes import ticket_code

    flush_redis_prefix(os.environ["REDIS_PREFIX"])
    venue, seat_ids = venue_with_seats(name="Bench Stadium", section="Stand", seats=tickets,
                                       per_row=100)
    event = Event.objects.create(title="Bench final", starts_at=timezone.now() + timedelta(
        hours=1), venue=venue, status="live")
    buyer = User.objects.create(email="fans@bench.local", password="!")
    order = Order.objects.create(user=buyer, event=event, total=0, hold_token="bench")
    Ticket.objects.bulk_create(
        (Ticket(order=order, user=buyer, event=event, seat_id=s, price=0) for s in seat_ids),
        batch_size=2000)
    rows = Ticket.objects.filter(event=event).select_related("event__signing_key", "seat__row")
    codes = [ticket_code(t) for t in rows.order_by("pk")]
    names = [f"Gate {n + 1}" for n in range(gates)]
    for name in names:
        gate_create(event=event, name=name, section_ids=[], actor=None)
    permission = Permission.objects.get(codename="scan_ticket")
    accounts = User.objects.bulk_create(
        User(email=f"gate{n}@bench.local", password="!") for n in range(gates))
    for account in accounts:
        account.user_permissions.add(permission)
    return event, codes, names, access_tokens(accounts, secret=SECRET_KEY)


def scan_plan(codes: list[str], scans: int, gates: int) -> list[list[str]]:
    """Each gate's queue: every code once, then re-scans up to `scans`, shuffled together."""
    rng = random.Random(2026)
    plan = list(codes) + [rng.choice(codes) for _ in range(max(0, scans - len(codes)))]
    rng.shuffle(plan)
    return [plan[g::gates] for g in range(gates)]


async def run_gates(ports: list[int], event_id: int, names: list[str], tokens: list[str],
                    queues: list[list[str]]) -> dict:
    stats = {"ms": [], "answers": Counter(), "errors": 0}
    client = RawHTTPClient(limit=len(names))

    async def gate(g: int) -> None:
        base = f"http://127.0.0.1:{ports[g % len(ports)]}"
        auth = {"Authorization": f"Bearer {tokens[g]}"}
        for code in queues[g]:
            started = time.perf_counter()
            status, body = await client.request(
                "POST", f"{base}/api/events/{event_id}/scan/",
                json_body={"code": code, "gate": names[g]}, headers=auth)
            stats["ms"].append((time.perf_counter() - started) * 1000)
            if status == 200:
                stats["answers"][json.loads(body)["result"]] += 1
            else:
                stats["errors"] += 1

    started = time.perf_counter()
    try:
        await asyncio.gather(*(gate(g) for g in range(len(names))))
    finally:
        client.close()
    stats["seconds"] = time.perf_counter() - started
    return stats


def signature_baseline(event_id: int, codes: list[str]) -> dict:
    """The Ed25519 check alone, one thread: decode and verify every code once."""
    from ticketing import ticket_code_format as fmt
    from ticketing.models import TicketSigningKey

    key = fmt.public_key_from_bytes(bytes(
        TicketSigningKey.objects.get(event_id=event_id).public_key))
    keys = {event_id: key}
    timings = []
    started = time.perf_counter()
    for code in codes:
        one = time.perf_counter()
        fmt.verify(code, keys)
        timings.append((time.perf_counter() - one) * 1000)
    seconds = time.perf_counter() - started
    return {"checks_per_second": len(codes) / seconds, "p99_ms": percentile(timings, 99)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=18_000)
    parser.add_argument("--scans", type=int, default=20_000)
    parser.add_argument("--gates", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    ensure_database(os.environ["DATABASE_URL"])
    manage("migrate", "--no-input", "-v", "0")
    manage("flush", "--no-input", "-v", "0")

    import django

    django.setup()
    logging.getLogger("httpx").setLevel(logging.WARNING)
    from django.db import connection

    from ticketing.models import Gate, TicketRedemption

    event, codes, names, tokens = setup_entry(args.tickets, args.gates)
    queues = scan_plan(codes, args.scans, args.gates)
    connection.close()
    env = {**os.environ, "SECRET_KEY": SECRET_KEY, "DEBUG": "0", "LOG_LEVEL": "WARNING",
           "SMS_BACKEND": "memory",  # console is refused with DEBUG off
           "THROTTLE_GATE_SCAN": "1000000/min", "ALLOWED_HOSTS": "127.0.0.1"}
    workers = start_workers(env, args.workers)
    try:
        stats = asyncio.run(run_gates([w.port for w in workers], event.pk, names, tokens,
                                      queues))
    finally:
        for worker in workers:
            worker.stop()

    scans = sum(len(q) for q in queues)
    redemptions = TicketRedemption.objects.filter(event=event).count()
    counted = sum(Gate.objects.filter(event=event).values_list("scanned", flat=True))
    baseline = signature_baseline(event.pk, codes)
    http_rate = scans / stats["seconds"]
    exactly_once = (redemptions == len(codes) == stats["answers"]["valid"] == counted
                    and stats["answers"]["already_used"] == scans - len(codes))
    result = {
        "tickets": len(codes), "scans": scans, "gates": args.gates,
        "daphne_workers": args.workers, "seconds": round(stats["seconds"], 1),
        "scans_per_second_http": round(http_rate, 1),
        "scan_p50_ms": round(percentile(stats["ms"], 50), 1),
        "scan_p99_ms": round(percentile(stats["ms"], 99), 1),
        "answers": dict(stats["answers"]), "server_errors": stats["errors"],
        "redemptions": redemptions, "gate_counters": counted, "exactly_once": exactly_once,
        "signature_checks_per_second": round(baseline["checks_per_second"], 1),
        "signature_check_p99_ms": round(baseline["p99_ms"], 3),
        "http_over_signature": round(http_rate / baseline["checks_per_second"], 4),
    }
    print(json.dumps(result, indent=2))
    emit_result(
        "gate_scan",
        [row(f"{scans:,} scans of {len(codes):,} tickets from {args.gates} gates over HTTP",
             f"{http_rate:.0f} scans/s, p99 {result['scan_p99_ms']:.0f} ms "
             f"(p50 {result['scan_p50_ms']:.0f}); {redemptions:,} redemptions, "
             f"{stats['errors']} non-200",
             target="each ticket redeemed once, 0 errors", met=exactly_once and not stats[
                 "errors"],
             baseline=f"Ed25519 check alone {baseline['checks_per_second']:.0f}/s "
                      f"(p99 {baseline['p99_ms'] * 1000:.0f} µs)",
             ratio=f"HTTP 1:{baseline['checks_per_second'] / http_rate:.0f}")],
        **result,
    )
    if not exactly_once or stats["errors"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
