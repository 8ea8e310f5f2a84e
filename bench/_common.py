"""Helpers shared by the benchmarks (not a benchmark itself).

- `emit_result()`: the machine-readable summary line every benchmark prints last,
  `BENCH_RESULT {json}`, which bench/run.py collects into its table;
- `percentile()`, `raise_fd_limit()`, `ensure_database()`, `setup_django()`;
- `DaphneWorker`: one `manage.py serve --no-scheduler` process on a free port, which a
  benchmark can stop and start again (the reconnect storm restarts its workers).
"""

from __future__ import annotations

import json
import os
import resource
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULT_PREFIX = "BENCH_RESULT "


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile, p in 0..100; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def raise_fd_limit(sockets: int) -> None:
    """Lift the soft RLIMIT_NOFILE towards the hard one; exit when it cannot cover `sockets`."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = min(hard, max(soft, sockets * 2 + 1000))
    resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    if wanted < sockets + 500:
        sys.exit(f"file descriptor limit {wanted} is too low for {sockets} sockets: ulimit -n")


def ensure_database(url: str) -> None:
    """Create the PostgreSQL database that `url` names if it does not exist."""
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def setup_django() -> None:
    """The benchmark's database created if missing (PostgreSQL), Django set up, migrated."""
    url = os.environ["DATABASE_URL"]
    if url.startswith("postgres"):
        ensure_database(url)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def row(figure: str, result: str, *, target: str | None = None, met: bool | None = None,
        baseline: str | None = None, ratio: str | None = None) -> dict[str, Any]:
    """One line of the summary table: what was measured, against what."""
    return {"figure": figure, "target": target, "result": result, "met": met,
            "baseline": baseline, "ratio": ratio}


def emit_result(bench: str, rows: list[dict[str, Any]], **data: Any) -> None:
    """Print the `BENCH_RESULT {json}` line: the table rows plus the raw figures."""
    line = json.dumps({"bench": bench, "rows": rows, "data": data}, default=str)
    print(RESULT_PREFIX + line, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class DaphneWorker:
    """A `manage.py serve --no-scheduler` process; start() waits for /healthz."""

    def __init__(self, env: dict[str, str], *, port: int | None = None,
                 log_path: Path | None = None) -> None:
        self.env = env
        self.port = port or free_port()
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def ws_url(self, path: str) -> str:
        return f"ws://127.0.0.1:{self.port}{path}"

    def start(self) -> DaphneWorker:
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        try:
            self.process = subprocess.Popen(
                [sys.executable, "manage.py", "serve", "--no-scheduler",
                 "--host", "127.0.0.1", "--port", str(self.port)],
                cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            )
        finally:
            if self.log_path:
                log.close()
        return self

    def wait_healthy(self, timeout: float = 60.0) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"daphne on {self.port} exited with "
                                   f"{self.process.returncode} (log: {self.log_path})")
            try:
                if httpx.get(self.url("/healthz"), timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(
            f"daphne on {self.port} not healthy in {timeout}s (log: {self.log_path})")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def start_workers(env: dict[str, str], count: int, *, log_dir: Path | None = None
                  ) -> list[DaphneWorker]:
    workers = []
    for index in range(count):
        log_path = log_dir / f"daphne-{index}.log" if log_dir else None
        workers.append(DaphneWorker(env, log_path=log_path).start())
    try:
        for worker in workers:
            worker.wait_healthy()
    except BaseException:
        for worker in workers:
            worker.stop()
        raise
    return workers


def machine() -> dict[str, Any]:
    """What the figures were measured on (bench/run.py prints it with the table)."""
    info: dict[str, Any] = {"nproc": os.cpu_count(), "load_average": os.getloadavg()}
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemTotal:"):
                    info["ram_gib"] = round(int(line.split()[1]) / 2**20, 1)
                    break
    except OSError:
        pass
    return info


class RawHTTPClient:
    """A minimal keep-alive HTTP/1.1 client for load generation (asyncio streams).

    httpx's per-request cost in Python (about a millisecond of client CPU) made
    the client, not the service, the bottleneck of bench/hold_contention.py on a
    2-core machine: with this client the buyers cost the machine a fraction of
    that. It speaks just enough HTTP/1.1 for our JSON API: Content-Length or
    chunked answers, connections reused per host:port, at most `limit` open.
    """

    def __init__(self, limit: int) -> None:
        import asyncio

        self._idle: dict[tuple[str, int], list] = {}
        self._gate = asyncio.Semaphore(limit)

    async def request(self, method: str, url: str, *, json_body: Any = None,
                      headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        import asyncio
        from urllib.parse import urlsplit

        parts = urlsplit(url)
        host, port = parts.hostname, parts.port or 80
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        body = json.dumps(json_body).encode() if json_body is not None else b""
        lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}",
                 f"Content-Length: {len(body)}"]
        if json_body is not None:
            lines.append("Content-Type: application/json")
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        payload = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
        async with self._gate:
            for attempt in range(2):
                idle = self._idle.setdefault((host, port), [])
                reader, writer = idle.pop() if idle else await asyncio.open_connection(host, port)
                try:
                    writer.write(payload)
                    status, answer, keep = await self._read(reader)
                except (ConnectionError, asyncio.IncompleteReadError):
                    writer.close()
                    if attempt:
                        raise
                    continue  # a kept-alive connection the server had closed: once more
                if keep:
                    idle.append((reader, writer))
                else:
                    writer.close()
                return status, answer
        raise AssertionError("unreachable")

    @staticmethod
    async def _read(reader) -> tuple[int, bytes, bool]:
        head = await reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split(" ", 2)[1])
        found = {}
        for line in header_lines:
            if ":" in line:
                name, value = line.split(":", 1)
                found[name.strip().lower()] = value.strip()
        if "content-length" in found:
            answer = await reader.readexactly(int(found["content-length"]))
        elif found.get("transfer-encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int((await reader.readuntil(b"\r\n")).strip().split(b";")[0], 16)
                chunks.append(await reader.readexactly(size + 2))
                if size == 0:
                    break
            answer = b"".join(chunk[:-2] for chunk in chunks)
        else:
            answer = await reader.read()
            found["connection"] = "close"
        return status, answer, found.get("connection", "").lower() != "close"

    def close(self) -> None:
        for connections in self._idle.values():
            for _, writer in connections:
                writer.close()
        self._idle.clear()


# --- sale fixtures shared by the HTTP benchmarks (hold_contention, request_path) ---------


def flush_redis_prefix(prefix: str) -> None:
    """Delete every key under `prefix:` (the benchmark's own Redis namespace)."""
    from core.redis import get_redis

    client = get_redis()
    stale = list(client.scan_iter(match=f"{prefix}:*", count=1000))
    for start in range(0, len(stale), 500):
        client.delete(*stale[start:start + 500])


def venue_with_seats(*, name: str, section: str, seats: int, per_row: int):
    """A venue with one section of `seats` seats in rows of `per_row`; -> (venue, seat ids)."""
    from core.models import Venue
    from ticketing.services import layout

    rows = [{"label": str(r + 1), "seats": min(per_row, seats - r * per_row)}
            for r in range((seats + per_row - 1) // per_row)]
    venue = Venue.objects.create(name=name)
    layout.venue_layout_set(venue=venue, sections=[{"name": section, "rows": rows}])
    return venue, sorted(venue.sections.get().rows.values_list("seats__id", flat=True))


def funded_buyers(*, count: int, balance: int, email_prefix: str) -> list:
    """`count` accounts, each with a wallet topped up with `balance` (and its ledger row)."""
    from core.models import User
    from ticketing.models import Wallet, WalletTransaction

    users = User.objects.bulk_create(
        User(email=f"{email_prefix}{i}@bench.local", password="!") for i in range(count))
    wallets = Wallet.objects.bulk_create(Wallet(user=u, balance=balance) for u in users)
    WalletTransaction.objects.bulk_create(
        WalletTransaction(wallet=w, kind="top_up", amount=balance, balance_after=balance)
        for w in wallets)
    return users


def access_tokens(users: list, *, secret: str, lifetime=None) -> list[str]:
    """Access tokens as login issues them (with the session claims: no user query per
    request), signed with the workers' `secret`; `lifetime` overrides the default."""
    from rest_framework_simplejwt.backends import TokenBackend

    from core.authentication import SessionRefreshToken

    signer = TokenBackend("HS256", signing_key=secret)
    tokens = []
    for user in users:
        token = SessionRefreshToken.for_user(user).access_token
        if lifetime is not None:
            token.set_exp(lifetime=lifetime)
        tokens.append(signer.encode(token.payload))
    return tokens
