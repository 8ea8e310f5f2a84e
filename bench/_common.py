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
