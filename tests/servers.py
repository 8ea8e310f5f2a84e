"""Real server processes for end-to-end tests: daphne (through `manage.py serve`).

    with running_server(tmp_path) as server:
        httpx.get(server.url("/healthz"))
        websockets.connect(server.ws_url("/ws/health/"))

The server gets the test run's configuration: on the embedded run its own
SQLite file (migrated here; the test database of pytest-django is not shared
with another process), on the server run the test database pytest-django
created on PostgreSQL and the same Redis prefix. Tests that use it must be
`django_db(transaction=True)` so that their writes are committed and visible.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    host: str
    port: int
    process: subprocess.Popen
    log_path: Path
    env: dict[str, str]

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.port}{path}"

    def ws_url(self, path: str) -> str:
        return f"ws://{self.host}:{self.port}{path}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def server_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """Environment for a child server that shares this test run's database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.update(DEBUG="0", SECRET_KEY="e2e-" + os.urandom(16).hex(), LOG_LEVEL="WARNING")
    if env.get("SMS_BACKEND", "console") == "console":
        env["SMS_BACKEND"] = "memory"  # console is refused with DEBUG off (core/conf.py)
    env["ALLOWED_HOSTS"] = "127.0.0.1,localhost"
    if settings.USING_POSTGRES:
        db = settings.DATABASES["default"]
        env["DATABASE_URL"] = (
            f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
            f"/{connection.settings_dict['NAME']}"
        )
    else:
        env.pop("DATABASE_URL", None)
        env["SQLITE_PATH"] = str(tmp_path / "e2e.sqlite3")
    if settings.REDIS_URL:
        env["REDIS_URL"] = settings.REDIS_URL
        env["REDIS_PREFIX"] = settings.REDIS_PREFIX
    else:
        env.pop("REDIS_URL", None)
    env.update(extra)
    return env


def migrate_sqlite(env: dict[str, str]) -> None:
    if "SQLITE_PATH" in env and not Path(env["SQLITE_PATH"]).exists():
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"],
            cwd=ROOT, env=env, check=True, timeout=120,
        )


@contextlib.contextmanager
def running_server(tmp_path: Path, *, port: int | None = None, args: tuple[str, ...] = (),
                   **env_extra: str):
    env = server_env(tmp_path, **env_extra)
    migrate_sqlite(env)
    port = port or free_port()
    log_path = tmp_path / f"daphne-{port}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "serve", "--host", "127.0.0.1", "--port", str(port),
             *args],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
    server = Server("127.0.0.1", port, process, log_path, env)
    try:
        wait_until_healthy(server)
        yield server
    finally:
        server.stop()


def wait_until_healthy(server: Server, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"server exited with {server.process.returncode}:\n{server.log()}")
        try:
            if httpx.get(server.url("/healthz"), timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"server did not become healthy in {timeout}s:\n{server.log()}")


def manage(env: dict[str, str], *args: str, **extra_env: str) -> subprocess.CompletedProcess:
    """Run a management command against the same database as a running_server with `env`."""
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env={**env, **extra_env},
        check=True, timeout=120, capture_output=True, text=True,
    )
