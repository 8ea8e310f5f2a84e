"""Real processes to break on purpose: a redis-server of our own, a TCP proxy.

    with redis_process(tmp_path) as redis:     # redis-server on a free port
        redis.stop()                           # SIGKILL: a crash
        redis.start()                          # same port, empty (no persistence)

    with tcp_proxy("127.0.0.1", 5432) as proxy:   # listen on proxy.port
        proxy.cut()                            # close every connection, refuse new ones
        proxy.restore()

Nothing here is shared with other test runs: the system Redis and PostgreSQL
are never stopped (they serve other runs); faults happen to our own process
or between the service and the shared server.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.servers import free_port

REDIS_SERVER = shutil.which("redis-server")


def wait_for(condition, *, timeout: float = 30.0, interval: float = 0.05, what: str = ""):
    """Poll `condition` until it returns something truthy; -> that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or condition}")
        time.sleep(interval)


@dataclass
class RedisProcess:
    """A redis-server without persistence: after stop()/start() every key is gone."""

    port: int
    workdir: Path
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        log = open(self.workdir / f"redis-{self.port}.log", "ab")  # noqa: SIM115 (lives with it)
        self.process = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", str(self.workdir),
             "--protected-mode", "no"],
            stdout=log, stderr=subprocess.STDOUT,
        )
        log.close()
        wait_for(self.ping, timeout=20, what=f"redis-server on {self.port}")

    def ping(self) -> bool:
        import redis

        try:
            return bool(redis.Redis(port=self.port, socket_connect_timeout=1).ping())
        except redis.ConnectionError:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.process.returncode}") from None
            return False

    def stop(self) -> None:
        """Kill it like a crash (no shutdown save: there is nothing to save anyway)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None

    def client(self):
        import redis

        return redis.Redis(port=self.port, decode_responses=True, socket_connect_timeout=2)


@contextlib.contextmanager
def redis_process(workdir: Path):
    redis = RedisProcess(port=free_port(), workdir=workdir)
    redis.start()
    try:
        yield redis
    finally:
        redis.stop()


@dataclass
class TcpProxy:
    """Forwards 127.0.0.1:port to upstream, one pair of threads per connection.

    cut() is what a client sees when the server behind restarts: every open
    connection is closed at once and new ones are refused (nothing listens)
    until restore().
    """

    upstream: tuple[str, int]
    port: int = field(default_factory=free_port)
    _listener: socket.socket | None = None
    _conns: set = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    connections_made: int = 0
    # Chunks forwarded either way: traffic through connections a pool keeps open shows
    # here, where connections_made counts new connections only.
    chunks_forwarded: int = 0

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(128)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # closed by cut()/stop()
            try:
                server = socket.create_connection(self.upstream, timeout=5)
                server.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                if self._listener is not listener:  # cut meanwhile
                    client.close()
                    server.close()
                    continue
                self._conns.update((client, server))
                self.connections_made += 1
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
                self.chunks_forwarded += 1
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                self._close(sock)

    def _close(self, sock: socket.socket) -> None:
        with self._lock:
            self._conns.discard(sock)
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()

    def cut(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
            conns, self._conns = set(self._conns), set()
        if listener is not None:
            # shutdown() first: on Linux close() alone does not wake the thread
            # blocked in accept(), and the socket keeps accepting connections.
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        for sock in conns:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def restore(self) -> None:
        self.start()

    def refuses(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
        except OSError:
            return True
        return False


@contextlib.contextmanager
def tcp_proxy(host: str, port: int):
    proxy = TcpProxy(upstream=(host, port))
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.cut()
