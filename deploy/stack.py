"""docker-compose.yml's topology from local processes: daphne workers and schedulers.

    stack = Stack(env, workers=2, schedulers=2, log_dir=Path("/tmp/stack"))
    with stack:                       # starts everything, waits until it is ready
        stack.workers[0].url("/api/events/")
        stack.kill(stack.workers[0])  # SIGKILL, as a crash would
        stack.restart(stack.workers[0])

Each worker is ``manage.py serve --no-scheduler`` on its own port, each scheduler
``manage.py run_scheduler``; all share ``env`` (one DATABASE_URL, REDIS_URL and
SECRET_KEY, so a token issued by one worker is accepted by the others). A worker
is ready when ``/readyz`` answers 200 (database and Redis reachable), a
scheduler when it has printed that it runs. Output goes to one log file per
process in ``log_dir``.

Used by ``scripts/stack`` (a developer's stack) and ``tests/stack.py`` (the
fault tests), so the tests exercise the script's topology. No Django imports:
the processes configure Django themselves.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
SCHEDULER_READY = "Scheduler running"


# Not in core/errors.py: this module runs before Django is set up (scripts/stack), and
# core/errors.py needs settings.
class StackError(RuntimeError):
    pass


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


@dataclass
class StackProcess:
    name: str  # "web1", "scheduler2"
    kind: str  # "worker" or "scheduler"
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    host: str = "127.0.0.1"
    port: int | None = None
    process: subprocess.Popen | None = field(default=None, repr=False)
    # Set when we stop or kill it on purpose; any other exit is a crash.
    stopping: bool = False
    _log_start: int = 0

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def crashed(self) -> bool:
        return self.process is not None and not self.alive and not self.stopping

    def url(self, path: str = "/") -> str:
        return f"http://{self.host}:{self.port}{path}"

    def ws_url(self, path: str) -> str:
        return f"ws://{self.host}:{self.port}{path}"

    def start(self) -> None:
        if self.alive:
            raise StackError(f"{self.name} is already running (pid {self.pid})")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log_start = self.log_path.stat().st_size if self.log_path.exists() else 0
        self.stopping = False
        with open(self.log_path, "ab") as log:
            # Own session: a terminal's Ctrl+C reaches the stack, which stops the
            # children in order, and a test's signal reaches exactly one process.
            self.process = subprocess.Popen(  # noqa: S603 (our argv: manage.py commands)
                self.argv, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def log(self, *, since_start: bool = True) -> str:
        if not self.log_path.exists():
            return ""
        with open(self.log_path, "rb") as log:
            log.seek(self._log_start if since_start else 0)
            return log.read().decode(errors="replace")

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log(since_start=False).splitlines()[-lines:])

    def ready(self) -> bool:
        if not self.alive:
            return False
        if self.kind == "scheduler":
            return SCHEDULER_READY in self.log()
        try:
            return httpx.get(self.url("/readyz"), timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def signal(self, signum: int) -> None:
        if self.alive:
            self.stopping = True
            self.process.send_signal(signum)

    def wait(self, timeout: float) -> int | None:
        try:
            return self.process.wait(timeout=timeout) if self.process else None
        except subprocess.TimeoutExpired:
            return None

    def kill(self) -> None:
        """SIGKILL, as a crash or an OOM kill would: no cleanup runs."""
        self.signal(signal.SIGKILL)
        self.wait(30)


class Stack:
    def __init__(self, env: dict[str, str], *, workers: int = 2, schedulers: int = 2,
                 log_dir: Path, host: str = "127.0.0.1", first_port: int | None = None,
                 python: str = sys.executable, ready_timeout: float = 90.0) -> None:
        self.env = dict(env)
        self.log_dir = Path(log_dir)
        self.host = host
        self.python = python
        self.ready_timeout = ready_timeout
        self.processes: list[StackProcess] = []
        for i in range(workers):
            self.add_worker(port=first_port + i if first_port else None)
        for _ in range(schedulers):
            self.add_scheduler()

    @property
    def workers(self) -> list[StackProcess]:
        return [p for p in self.processes if p.kind == "worker"]

    @property
    def schedulers(self) -> list[StackProcess]:
        return [p for p in self.processes if p.kind == "scheduler"]

    def add_worker(self, *, port: int | None = None, **env_extra: str) -> StackProcess:
        """Describe one more worker (started by start() or start_process())."""
        port = port or free_port(self.host)
        name = f"web{len(self.workers) + 1}"
        argv = [self.python, "manage.py", "serve", "--no-scheduler",
                "--host", self.host, "--port", str(port)]
        process = StackProcess(name, "worker", argv, {**self.env, **env_extra},
                               self.log_dir / f"{name}.log", self.host, port)
        self.processes.append(process)
        return process

    def add_scheduler(self, **env_extra: str) -> StackProcess:
        name = f"scheduler{len(self.schedulers) + 1}"
        argv = [self.python, "manage.py", "run_scheduler"]
        process = StackProcess(name, "scheduler", argv, {**self.env, **env_extra},
                               self.log_dir / f"{name}.log", self.host)
        self.processes.append(process)
        return process

    def start(self) -> None:
        """Start every process not running yet and wait until all are ready."""
        pending = [p for p in self.processes if not p.alive]
        for process in pending:
            process.start()
        self.wait_ready(pending)

    def start_process(self, process: StackProcess) -> StackProcess:
        process.start()
        self.wait_ready([process])
        return process

    def wait_ready(self, processes: list[StackProcess] | None = None,
                   timeout: float | None = None) -> None:
        waiting = list(self.processes if processes is None else processes)
        deadline = time.monotonic() + (timeout or self.ready_timeout)
        while waiting:
            for process in list(waiting):
                if process.process is not None and not process.alive:
                    raise StackError(f"{process.name} exited with {process.process.returncode} "
                                     f"while starting:\n{process.tail()}")
                if process.ready():
                    waiting.remove(process)
            if waiting and time.monotonic() > deadline:
                names = ", ".join(p.name for p in waiting)
                raise StackError(f"not ready after {timeout or self.ready_timeout:.0f} s: "
                                 f"{names}\n" + "\n".join(p.tail() for p in waiting))
            if waiting:
                time.sleep(0.2)

    def kill(self, process: StackProcess) -> None:
        process.kill()

    def restart(self, process: StackProcess) -> StackProcess:
        """Start a stopped or killed process again (same name, port and log file)."""
        if process.alive:
            process.kill()
        return self.start_process(process)

    def crashed(self) -> list[StackProcess]:
        return [p for p in self.processes if p.crashed]

    def stop(self, timeout: float = 20.0) -> dict[str, int | None]:
        """SIGTERM to every process (schedulers first, then workers), SIGKILL to any
        still running after `timeout`. Returns each process's exit code."""
        ordered = self.schedulers + self.workers
        for process in ordered:
            process.signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        codes: dict[str, int | None] = {}
        for process in ordered:
            if process.process is None:
                continue
            code = process.wait(max(0.1, deadline - time.monotonic()))
            if code is None:
                process.kill()
                code = process.process.returncode
            codes[process.name] = code
        return codes

    def __enter__(self) -> Stack:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.stop()
        if exc_type is not None:
            # Shown by pytest with the failure; a script prints them itself.
            for process in self.processes:
                print(f"--- {process.name} (pid {process.pid}) log tail ---\n{process.tail()}")
