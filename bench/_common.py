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


def manage(*args: str) -> None:
    """Run a management command of the project (the benchmark's environment)."""
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, check=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class DaphneWorker:
    """A `manage.py serve --no-scheduler` process; start() waits for /healthz."""

    def __init__(self, env: dict[str, str], *, port: int | None = None,
                 log_path: Path | None = None, nice: int = 0) -> None:
        self.env = env
        self.nice = nice  # added to the bench's own niceness (`nice -n`)
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
                [*(["nice", "-n", str(self.nice)] if self.nice else []),
                 sys.executable, "manage.py", "serve", "--no-scheduler",
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


def start_workers(env: dict[str, str], count: int, *, log_dir: Path | None = None,
                  nice: int = 0, first: int = 0) -> list[DaphneWorker]:
    workers = []
    for index in range(first, first + count):
        log_path = log_dir / f"daphne-{index}.log" if log_dir else None
        workers.append(DaphneWorker(env, log_path=log_path, nice=nice).start())
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
                    # A kept-alive connection the server had closed: once more, on a new
                    # one. The others idle as long are likely closed too (daphne closes
                    # idle connections after a while): drop them.
                    for _, stale in idle:
                        stale.close()
                    idle.clear()
                    continue
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
    from unittest import mock

    from rest_framework_simplejwt.backends import TokenBackend
    from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

    from core.authentication import SessionRefreshToken

    signer = TokenBackend("HS256", signing_key=secret)
    tokens = []
    # Login records each refresh token (the deny list's OutstandingToken), one INSERT
    # each: 5 ms a buyer, 100 s for 20,000. The same rows, written in batches.
    outstanding = []
    with mock.patch.object(OutstandingToken.objects, "create",
                           lambda **fields: outstanding.append(OutstandingToken(**fields))):
        for user in users:
            token = SessionRefreshToken.for_user(user).access_token
            if lifetime is not None:
                token.set_exp(lifetime=lifetime)
            tokens.append(signer.encode(token.payload))
    OutstandingToken.objects.bulk_create(outstanding, batch_size=2000)
    return tokens


class RawWebSocket:
    """A minimal WebSocket client for holding many sockets from one process (asyncio
    Protocol, RFC 6455 client side: masked frames out, unmasked text frames in).

    The `websockets` library costs tens of microseconds of client CPU per frame, and
    20,000 sockets receiving one message each is 20,000 frames: on a 2-core machine the
    client would measure itself. Here a chunk of bytes is split into frames in one
    pass and each text frame goes to `on_text(text, received_at)` with the time the
    chunk arrived. Pings are answered (daphne closes a socket that misses its pongs);
    what the server closes or breaks is recorded in `closed` / `close_code`.
    """

    def __init__(self, on_text) -> None:
        import asyncio

        self.on_text = on_text
        self.transport = None
        self.handshake: asyncio.Future = asyncio.get_running_loop().create_future()
        self.buffer = bytearray()
        self.upgraded = False
        self.closed = False
        self.close_code: int | None = None
        self.subprotocol: str | None = None
        self.fragments: list[bytes] = []

    @classmethod
    async def connect(cls, host: str, port: int, path: str, *, on_text,
                      subprotocols: tuple[str, ...] = (), timeout: float = 60.0
                      ) -> RawWebSocket:
        import asyncio
        import base64

        loop = asyncio.get_running_loop()
        transport, protocol = await asyncio.wait_for(
            loop.create_connection(lambda: cls(on_text), host, port), timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}", "Upgrade: websocket",
                 "Connection: Upgrade", f"Sec-WebSocket-Key: {key}",
                 "Sec-WebSocket-Version: 13"]
        if subprotocols:
            lines.append("Sec-WebSocket-Protocol: " + ", ".join(subprotocols))
        transport.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        try:
            await asyncio.wait_for(asyncio.shield(protocol.handshake), timeout)
        except BaseException:
            transport.abort()
            raise
        return protocol

    # asyncio.Protocol
    def connection_made(self, transport) -> None:
        self.transport = transport

    def connection_lost(self, exc) -> None:
        self.closed = True
        if not self.handshake.done():
            self.handshake.set_exception(ConnectionError("closed during the handshake"))

    def data_received(self, data: bytes) -> None:
        received_at = time.time()
        self.buffer += data
        if not self.upgraded:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
            del self.buffer[:end + 4]
            if " 101 " not in head[0] + " ":
                self.handshake.set_exception(ConnectionError(f"handshake: {head[0]}"))
                self.transport.close()
                return
            for line in head[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "sec-websocket-protocol":
                    self.subprotocol = value.strip()
            self.upgraded = True
            self.handshake.set_result(self)
        self._frames(received_at)

    def eof_received(self):
        return None

    def _frames(self, received_at: float) -> None:
        buf = self.buffer
        while len(buf) >= 2:
            opcode, size, start = buf[0] & 0x0F, buf[1] & 0x7F, 2
            if size == 126:
                if len(buf) < 4:
                    return
                size, start = int.from_bytes(buf[2:4], "big"), 4
            elif size == 127:
                if len(buf) < 10:
                    return
                size, start = int.from_bytes(buf[2:10], "big"), 10
            if len(buf) < start + size:
                return
            payload, fin = bytes(buf[start:start + size]), buf[0] & 0x80
            del buf[:start + size]
            if opcode in (0x0, 0x1):  # (a continuation of) a text frame
                self.fragments.append(payload)
                if fin:
                    text, self.fragments = b"".join(self.fragments), []
                    self.on_text(text, received_at)
            elif opcode == 0x9:  # ping: pong with the same payload
                self._send(0xA, payload)
            elif opcode == 0x8:  # close: answer it, the server ends the TCP connection
                self.close_code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 \
                    else 1005
                self._send(0x8, payload[:2])
                self.closed = True

    def _send(self, opcode: int, payload: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        mask = os.urandom(4)
        header = bytes([0x80 | opcode, 0x80 | len(payload)])  # control frames: < 126 bytes
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.transport.write(header + mask + masked)

    def close(self) -> None:
        if not self.closed:
            self._send(0x8, (1000).to_bytes(2, "big"))
            self.closed = True
        if self.transport is not None:
            self.transport.close()
