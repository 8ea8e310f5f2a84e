"""A local PgBouncer in transaction mode in front of a PostgreSQL server (Debian's package).

    with PgBouncer(upstream_port=5432, pool_size=8) as bouncer:
        url = bouncer.url("postgres", "tombola")   # postgres://postgres@127.0.0.1:<port>/tombola

Used by bench/db_pool.py (the pool decision's measurement), scripts/stack
(`--pgbouncer`) and tests/test_db_pooling.py. Every database of the upstream
server is reachable through it (`* = ...`), with the given pool size per
database and user; authentication is `trust` like the local server's, and
PgBouncer runs as the `postgres` OS user when started by root (it refuses root).
No Django imports: this runs before Django is set up.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path


class PgBouncerError(RuntimeError):
    pass


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def available() -> bool:
    return shutil.which("pgbouncer") is not None


class PgBouncer:
    def __init__(self, *, upstream_host: str = "127.0.0.1", upstream_port: int = 5432,
                 pool_size: int = 8, port: int | None = None,
                 users: tuple[str, ...] = ("postgres",),
                 max_client_conn: int = 2000) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.pool_size = pool_size
        self.port = port or _free_port()
        self.users = users
        self.max_client_conn = max_client_conn
        self.dir: Path | None = None
        self.process: subprocess.Popen | None = None

    def url(self, user: str, database: str) -> str:
        return f"postgres://{user}@127.0.0.1:{self.port}/{database}"

    def config(self) -> str:
        host, port = self.upstream
        return f"""[databases]
* = host={host} port={port}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {self.port}
unix_socket_dir =
auth_type = trust
auth_file = {self.dir / "users.txt"}
pool_mode = transaction
default_pool_size = {self.pool_size}
min_pool_size = 0
reserve_pool_size = 0
max_client_conn = {self.max_client_conn}
max_db_connections = 0
server_reset_query =
; psycopg sends these at connect; PgBouncer would refuse the connection otherwise.
ignore_startup_parameters = extra_float_digits,options
logfile = {self.dir / "pgbouncer.log"}
log_connections = 0
log_disconnections = 0
admin_users = {self.users[0]}
"""

    def start(self, timeout: float = 15.0) -> PgBouncer:
        binary = shutil.which("pgbouncer")
        if binary is None:
            raise PgBouncerError("pgbouncer is not installed (apt-get install pgbouncer)")
        self.dir = Path(tempfile.mkdtemp(prefix="tombola-pgbouncer-"))
        (self.dir / "users.txt").write_text("".join(f'"{u}" ""\n' for u in self.users))
        (self.dir / "pgbouncer.ini").write_text(self.config())
        argv = [binary, str(self.dir / "pgbouncer.ini")]
        if os.geteuid() == 0:  # PgBouncer refuses to run as root
            account = pwd.getpwnam("postgres")
            os.chown(self.dir, account.pw_uid, account.pw_gid)
            for child in self.dir.iterdir():
                os.chown(child, account.pw_uid, account.pw_gid)
            argv = ["runuser", "-u", "postgres", "--", *argv]
        self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise PgBouncerError(f"pgbouncer exited with {self.process.returncode}:\n"
                                     f"{self.log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise PgBouncerError(f"pgbouncer not listening on {self.port} in {timeout}s")

    def log(self) -> str:
        path = self.dir / "pgbouncer.log" if self.dir else None
        return path.read_text(errors="replace")[-4000:] if path and path.exists() else ""

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # runuser passes SIGTERM on to pgbouncer
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self) -> PgBouncer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
