"""The HTTP request path against the framework's floor, everything in one run (issue 11).

    python bench/request_path.py                     # 2 workers, 32 and 64 in flight, 6 s each
    python bench/request_path.py --seconds 3 --in-flight 32 --quick

Needs PostgreSQL and Redis (defaults: database tombola_bench_request, Redis db 7, prefix
tombola-bench-request; override with DATABASE_URL / REDIS_URL / REDIS_PREFIX) and `wrk`
(Debian's package; `make bench` installs it). One server set runs at a time, so the
figures of one run share the machine's state:

- references on daphne, two processes: a bare ASGI app (the server's floor) and a bare
  Django sync view with no middleware and no database (the framework's floor, 1.0x);
- Tombola as it ships: two `manage.py serve` workers (daphne; HTTP on core/http.py's
  thread pool, persistent connections), PostgreSQL and Redis;
- Tombola with Django's ASGIHandler (`HTTP_HANDLER=asgi`, a connection per request):
  the path before issue 11;
- Tombola under gunicorn (two processes, threaded workers): the alternative we measured.

Requests: `/healthz`; an authenticated cheap GET (`/api/accounts/me/`: JWT, one query);
a granted hold (one free seat per request, a fresh event per run); a refused hold (a seat
somebody else holds: 409); a purchase (holds made beforehand through the service). `wrk`
drives each for `--seconds` at each `--in-flight` (split over the workers' ports) and
prints req/s and p50/p99; this script adds worker and PostgreSQL CPU per request (from
/proc: the workers' and every PostgreSQL process' utime+stime, exited backends included
through the postmaster's cutime), RSS per in-flight request, the status codes seen, and
each rate as a ratio to the bare Django view at the same concurrency.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/tombola_bench_request")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/7")
os.environ.setdefault("REDIS_PREFIX", "tombola-bench-request")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "core.settings")
SECRET_KEY = "bench-" + secrets.token_hex(16)
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

from _common import (  # noqa: E402
    access_tokens,
    emit_result,
    ensure_database,
    flush_redis_prefix,
    free_port,
    funded_buyers,
    row,
    venue_with_seats,
)

# The targets of issue 11, as ratios to the bare Django view on daphne.
TARGETS = {"me": 0.6, "hold_granted": 0.4, "hold_refused": 0.5, "purchase": 0.25}
LABELS = {
    "floor": "bare ASGI app on daphne",
    "bare": "bare Django sync view on daphne",
    "healthz": "GET /healthz",
    "me": "GET /api/accounts/me/ (JWT, one query)",
    "hold_granted": "seat hold, granted",
    "hold_refused": "seat hold, refused (409)",
    "purchase": "purchase",
}


# --- processes and /proc ----------------------------------------------------------------

def _proc_stat(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            text = handle.read()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()  # fields from 3 (state) on


def cpu_seconds(pid: int, *, children: bool = False) -> float:
    fields = _proc_stat(pid)
    if fields is None:
        return 0.0
    ticks = int(fields[11]) + int(fields[12])  # utime, stime
    if children:
        ticks += int(fields[13]) + int(fields[14])  # cutime, cstime: reaped children
    return ticks / CLOCK_TICKS


def rss_bytes(pid: int) -> int:
    fields = _proc_stat(pid)
    return int(fields[21]) * os.sysconf("SC_PAGE_SIZE") if fields else 0


def children_of(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _proc_stat(int(entry))
            if fields is not None and int(fields[1]) == pid:
                found.append(int(entry))
    return found


def postmaster_pid() -> int | None:
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/comm") as handle:
                if handle.read().strip() != "postgres":
                    continue
            with open(f"/proc/{entry}/cmdline") as handle:
                if "-D" in handle.read().split("\0"):
                    return int(entry)
        except OSError:
            continue
    return None


def postgres_cpu(postmaster: int | None) -> float:
    """Every PostgreSQL process' CPU: the postmaster with its reaped backends, plus live ones."""
    if postmaster is None:
        return float("nan")
    total = cpu_seconds(postmaster, children=True)
    return total + sum(cpu_seconds(child) for child in children_of(postmaster))


@dataclass
class ServerSet:
    """One variant's processes: `ports` get the load, `pids` are charged its CPU."""

    name: str
    processes: list[subprocess.Popen] = field(default_factory=list)
    ports: list[int] = field(default_factory=list)

    def pids(self) -> list[int]:
        pids = []
        for process in self.processes:
            pids.append(process.pid)
            pids.extend(children_of(process.pid))  # gunicorn's workers
        return pids

    def cpu(self) -> float:
        return sum(cpu_seconds(pid) for pid in self.pids())

    def rss(self) -> int:
        return sum(rss_bytes(pid) for pid in self.pids())

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def wait_ready(port: int, path: str, process: subprocess.Popen, timeout: float = 60) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server on {port} exited with {process.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}{path}", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server on {port} not ready in {timeout}s")


def start(name: str, env: dict[str, str], workers: int, log_dir: Path) -> ServerSet:
    servers = ServerSet(name)
    daphne = [sys.executable, "-m", "daphne", "-b", "127.0.0.1"]
    try:
        if name == "gunicorn":
            port = free_port()
            command = [sys.executable, "-m", "gunicorn", "core.wsgi:application",
                       "-b", f"127.0.0.1:{port}", "-w", str(workers), "-k", "gthread",
                       "--threads", env.get("HTTP_THREADS", "8"), "--log-level", "warning"]
            servers.ports = [port]
            commands = [command]
        else:
            servers.ports = [free_port() for _ in range(workers)]
            commands = []
            for port in servers.ports:
                if name == "floor":
                    commands.append([*daphne, "-p", str(port), "servers.bare_asgi:application"])
                elif name == "bare":
                    commands.append([*daphne, "-p", str(port), "servers.bare_django:application"])
                else:
                    commands.append([sys.executable, "manage.py", "serve", "--no-scheduler",
                                     "--host", "127.0.0.1", "--port", str(port)])
        for index, command in enumerate(commands):
            with open(log_dir / f"{name}-{index}.log", "ab") as log:
                cwd = ROOT / "bench" if name in ("floor", "bare") else ROOT
                servers.processes.append(subprocess.Popen(
                    command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT))
        for index, port in enumerate(servers.ports):
            wait_ready(port, "/healthz", servers.processes[min(index, len(commands) - 1)])
    except BaseException:
        servers.stop()
        raise
    return servers


# --- wrk --------------------------------------------------------------------------------

WRK_LUA = r"""
%(requests)s
local index = 0
statuses = {}
wrapped = 0
threads = {}
setup = function(thread) table.insert(threads, thread) end
request = function()
  index = index + 1
  if index > #requests then index = 1; wrapped = wrapped + 1 end
  return requests[index]
end
response = function(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end
done = function(summary, latency, reqs)
  for _, thread in ipairs(threads) do
    local seen = thread:get("statuses")
    for status, count in pairs(seen) do
      io.write(string.format("STATUS %%d %%d\n", status, count))
    end
    io.write(string.format("WRAPPED %%d\n", thread:get("wrapped")))
  end
end
"""


def lua_string(text: str) -> str:
    return json.dumps(text)  # a JSON string literal is a valid Lua string literal here


def wrk_script(requests: list[tuple[str, str, dict[str, str], str | None]]) -> str:
    lines = ["requests = {"]
    for method, path, headers, body in requests:
        header_table = ", ".join(f"[{lua_string(k)}] = {lua_string(v)}" for k, v in headers.items())
        body_text = lua_string(body) if body is not None else "nil"
        lines.append(f"  wrk.format({lua_string(method)}, {lua_string(path)}, "
                     f"{{{header_table}}}, {body_text}),")
    lines.append("}")
    return WRK_LUA % {"requests": "\n".join(lines)}


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(number) * _UNITS[unit]


def run_wrk(ports: list[int], in_flight: int, seconds: float,
            requests_per_port: list[list[tuple]], tmp: Path) -> dict:
    """One wrk per port (in_flight split over them), started together; results merged."""
    per_port = max(1, in_flight // len(ports))
    processes = []
    for index, port in enumerate(ports):
        script = tmp / f"wrk-{port}-{index}.lua"
        script.write_text(wrk_script(requests_per_port[index]))
        processes.append(subprocess.Popen(
            ["wrk", "-t1", f"-c{per_port}", f"-d{max(1, round(seconds))}s", "--latency",
             "--timeout", "30s", "-s", str(script), f"http://127.0.0.1:{port}"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    merged = {"rps": 0.0, "p50_ms": 0.0, "p99_ms": 0.0, "statuses": {}, "wrapped": 0,
              "requests": 0, "socket_errors": 0}
    for process in processes:
        out, _ = process.communicate(timeout=seconds + 120)
        rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
        if not rps:
            raise RuntimeError(f"wrk failed:\n{out}")
        merged["rps"] += float(rps.group(1))
        merged["requests"] += int(re.search(r"(\d+) requests in", out).group(1))
        for pct, key in (("50%", "p50_ms"), ("99%", "p99_ms")):
            found = re.search(rf"^\s+{re.escape(pct)}\s+(\S+)", out, re.MULTILINE)
            merged[key] = max(merged[key], _ms(found.group(1)))  # the worse worker
        for status, count in re.findall(r"^STATUS (\d+) (\d+)", out, re.MULTILINE):
            merged["statuses"][status] = merged["statuses"].get(status, 0) + int(count)
        merged["wrapped"] += sum(int(n) for n in re.findall(r"^WRAPPED (\d+)", out, re.MULTILINE))
        if errors := re.search(r"Socket errors: (.*)", out):
            merged["socket_errors"] += sum(int(n) for n in re.findall(r"\d+", errors.group(1)))
    return merged


# --- data -------------------------------------------------------------------------------

@dataclass
class Fixture:
    venue_id: int
    seat_ids: list[int]
    tokens: list[str]
    user_ids: list[int]
    refused_event_id: int
    refused_seat_id: int


def setup_data(users: int, seats: int) -> Fixture:
    from datetime import timedelta

    from ticketing.services import holds

    flush_redis_prefix(os.environ["REDIS_PREFIX"])
    venue, seat_ids = venue_with_seats(name="Bench Hall", section="Floor", seats=seats,
                                       per_row=50)
    accounts = funded_buyers(count=users, balance=1_000_000, email_prefix="req")
    tokens = access_tokens(accounts, secret=SECRET_KEY, lifetime=timedelta(hours=2))
    refused = new_event(venue)
    holds.hold_create(event=refused, user=accounts[-1], seat_ids=[seat_ids[0]])
    return Fixture(venue.pk, seat_ids, tokens, [u.pk for u in accounts], refused.pk, seat_ids[0])


def new_event(venue):
    """A fresh event on sale at `venue`, on a day of its own: one venue sells one
    event at a time (ticketing.services.layout.sale_configure refuses an overlap)."""
    from datetime import timedelta

    from django.utils import timezone

    from core.models import Event
    from ticketing.services import layout

    day = Event.objects.filter(venue=venue).count() + 1
    event = Event.objects.create(title="Bench request path", venue=venue, status="published",
                                 starts_at=timezone.now() + timedelta(days=day))
    layout.event_prices_set(event=event, prices={venue.sections.get().pk: 100})
    layout.sale_configure(event=event, max_seats_per_order=4)
    return event


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


def requests_for(kind: str, fx: Fixture, ports: int, count: int) -> tuple[list[list[tuple]], int]:
    """Per-port request lists for `kind` (the lists are disjoint where a request is spent)."""
    from core.models import User, Venue
    from ticketing.services import holds

    lists: list[list[tuple]] = [[] for _ in range(ports)]
    if kind in ("floor", "bare", "healthz"):
        for port_list in lists:
            port_list.append(("GET", "/healthz", {}, None))
        return lists, 0
    if kind == "me":
        for index, port_list in enumerate(lists):
            for token in fx.tokens[index::ports][:200]:
                port_list.append(("GET", "/api/accounts/me/", auth(token), None))
        return lists, 0
    if kind == "hold_refused":
        for index, port_list in enumerate(lists):
            for token in fx.tokens[index::ports][:200]:
                port_list.append(("POST", f"/api/events/{fx.refused_event_id}/holds/",
                                  auth(token), json.dumps({"seat_ids": [fx.refused_seat_id]})))
        return lists, 0
    event = new_event(Venue.objects.get(pk=fx.venue_id))
    seats = fx.seat_ids[:count]
    if kind == "hold_granted":
        for index, seat_id in enumerate(seats):
            token = fx.tokens[index % len(fx.tokens)]
            lists[index % ports].append(("POST", f"/api/events/{event.pk}/holds/", auth(token),
                                         json.dumps({"seat_ids": [seat_id]})))
        return lists, event.pk
    assert kind == "purchase"
    users = {u.pk: u for u in User.objects.filter(pk__in=fx.user_ids)}
    started = time.perf_counter()
    for index, seat_id in enumerate(seats):
        user = users[fx.user_ids[index % len(fx.user_ids)]]
        hold = holds.hold_create(event=event, user=user, seat_ids=[seat_id])
        token = fx.tokens[index % len(fx.tokens)]
        lists[index % ports].append(
            ("POST", f"/api/holds/{hold.token}/purchase/",
             {**auth(token), "Idempotency-Key": secrets.token_hex(12)}, None))
    print(f"    {len(seats):,} holds made for the purchase run in "
          f"{time.perf_counter() - started:.1f} s", flush=True)
    return lists, event.pk


# --- the run ----------------------------------------------------------------------------

VARIANTS = {
    # variant: (request kinds, extra environment)
    "floor": (["floor"], {}),
    "bare": (["bare"], {}),
    "tombola": (["healthz", "me", "hold_granted", "hold_refused", "purchase"], {}),
    "tombola-asgi": (["healthz", "me", "hold_granted", "hold_refused", "purchase"],
                     {"HTTP_HANDLER": "asgi"}),
    "gunicorn": (["healthz", "me", "hold_granted", "hold_refused", "purchase"], {}),
}


def prepare_run(*, users: int, seats: int) -> tuple[Fixture, int | None, dict[str, str]]:
    """The database migrated and emptied, Django set up, the accounts and seats made.

    Returns the fixture, the postmaster's pid (PostgreSQL CPU) and the servers' environment.
    """
    ensure_database(os.environ["DATABASE_URL"])
    subprocess.run([sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"], cwd=ROOT,
                   check=True)
    subprocess.run([sys.executable, "manage.py", "flush", "--no-input", "-v", "0"], cwd=ROOT,
                   check=True)
    import django

    django.setup()
    import logging

    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("ticketing").setLevel(logging.ERROR)
    from django.db import connection

    print(f"setting up {users:,} accounts and {seats:,} seats ...", flush=True)
    fx = setup_data(users, seats)
    connection.close()
    base_env = {**os.environ, "SECRET_KEY": SECRET_KEY, "DEBUG": "0", "LOG_LEVEL": "WARNING",
                "SMS_BACKEND": "memory",  # console is refused with DEBUG off
                "ALLOWED_HOSTS": "127.0.0.1", "PYTHONPATH": str(ROOT),
                "THROTTLE_SEAT_HOLDS": "1000000/min"}
    return fx, postmaster_pid(), base_env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--in-flight", default="32,64")
    parser.add_argument("--seconds", type=int, default=6)
    parser.add_argument("--seats", type=int, default=20_000,
                        help="seats spent per granted-hold or purchase run (a fresh event each)")
    parser.add_argument("--users", type=int, default=4_000)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    args = parser.parse_args()
    if args.quick:
        args.seats, args.users, args.in_flight = 2_000, 500, "32"
        args.seconds = min(args.seconds, 3)
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed: apt-get install wrk (make bench does)")
    in_flights = [int(n) for n in args.in_flight.split(",")]
    variants = args.variants.split(",")

    fx, postmaster, base_env = prepare_run(users=args.users, seats=args.seats)
    from django.db import connection

    results: dict[tuple[str, str, int], dict] = {}
    with tempfile.TemporaryDirectory(prefix="bench-request-") as tmp_name:
        tmp = Path(tmp_name)
        for variant in variants:
            kinds, extra = VARIANTS[variant]
            print(f"== {variant}", flush=True)
            servers = start(variant, {**base_env, **extra}, args.workers, tmp)
            try:
                for in_flight in in_flights:
                    for kind in kinds:
                        lists, _ = requests_for(kind, fx, len(servers.ports), args.seats)
                        connection.close()
                        run_wrk(servers.ports, in_flight, 1, [lst[:50] for lst in lists]
                                if kind in ("hold_granted", "purchase") else lists, tmp)
                        idle_rss = servers.rss()
                        cpu0, pg0 = servers.cpu(), postgres_cpu(postmaster)
                        if kind in ("hold_granted", "purchase"):
                            lists = [lst[50:] for lst in lists]
                        figures = run_wrk(servers.ports, in_flight, args.seconds, lists, tmp)
                        cpu1, pg1 = servers.cpu(), postgres_cpu(postmaster)
                        done = max(1, figures["requests"])
                        figures.update(
                            worker_cpu_ms=round((cpu1 - cpu0) * 1000 / done, 3),
                            postgres_cpu_ms=round((pg1 - pg0) * 1000 / done, 3),
                            rss_per_in_flight_kib=round(
                                max(0, servers.rss() - idle_rss) / in_flight / 1024, 1),
                        )
                        results[(variant, kind, in_flight)] = figures
                        print(f"  {kind:13} x{in_flight:<3} {figures['rps']:8.1f} req/s  "
                              f"p50 {figures['p50_ms']:7.1f} ms  p99 {figures['p99_ms']:7.1f} ms  "
                              f"worker {figures['worker_cpu_ms']:.2f} ms/req  "
                              f"pg {figures['postgres_cpu_ms']:.2f} ms/req  "
                              f"statuses {figures['statuses']}"
                              f"{'  (request list wrapped)' if figures['wrapped'] else ''}",
                              flush=True)
            finally:
                servers.stop()
    report(results, variants, in_flights, args)


def report(results, variants, in_flights, args) -> None:
    rows = []
    table = []
    for in_flight in in_flights:
        bare = results.get(("bare", "bare", in_flight))
        bare_rps = bare["rps"] if bare else float("nan")
        for (variant, kind, flight), fig in results.items():
            if flight != in_flight:
                continue
            ratio = fig["rps"] / bare_rps if bare_rps == bare_rps else float("nan")
            entry = {"variant": variant, "request": kind, "in_flight": in_flight,
                     "rps": round(fig["rps"], 1), "p50_ms": fig["p50_ms"],
                     "p99_ms": fig["p99_ms"], "worker_cpu_ms": fig["worker_cpu_ms"],
                     "postgres_cpu_ms": fig["postgres_cpu_ms"],
                     "rss_per_in_flight_kib": fig["rss_per_in_flight_kib"],
                     "vs_bare_django": round(ratio, 3), "statuses": fig["statuses"]}
            table.append(entry)
            if variant in ("tombola", "floor", "bare") or kind in ("healthz", "me"):
                target = TARGETS.get(kind) if variant == "tombola" else None
                rows.append(row(
                    f"{LABELS[kind]} [{variant}, {in_flight} in flight]",
                    f"{fig['rps']:,.0f} req/s, p99 {fig['p99_ms']:.0f} ms, "
                    f"{fig['worker_cpu_ms']:.2f} ms worker CPU/req",
                    target=f">= {target}x bare Django" if target else None,
                    met=(ratio >= target) if target else None,
                    baseline=f"bare Django view {bare_rps:,.0f} req/s",
                    ratio=f"{ratio:.2f}x"))
    print()
    print(f"{'variant':13} {'request':13} {'in':>3} {'req/s':>8} {'p50':>7} {'p99':>7} "
          f"{'wCPU':>6} {'pgCPU':>6} {'vs bare':>7}")
    for e in table:
        print(f"{e['variant']:13} {e['request']:13} {e['in_flight']:>3} {e['rps']:>8.1f} "
              f"{e['p50_ms']:>7.1f} {e['p99_ms']:>7.1f} {e['worker_cpu_ms']:>6.2f} "
              f"{e['postgres_cpu_ms']:>6.2f} {e['vs_bare_django']:>6.2f}x")
    emit_result("request_path", rows, workers=args.workers, seconds=args.seconds,
                table=table)


if __name__ == "__main__":
    main()
