"""A real Redis Cluster on loopback, from local processes: 3 masters + 3 replicas.

    cluster = RedisCluster(Path(tempfile.mkdtemp()))
    with cluster:                     # starts six redis-server, creates the cluster
        cluster.url                   # "redis+cluster://127.0.0.1:P1,127.0.0.1:P2,..."
        cluster.failover(node)        # CLUSTER FAILOVER on one of node's replicas
        cluster.kill(node)            # SIGKILL, as a crash would

Each node is ``redis-server --cluster-enabled yes`` on a free loopback port (its
cluster bus on port + 10000 must be free too), with its own folder under
``base_dir`` (nodes.conf, log; no persistence); ``redis-cli --cluster create
--cluster-replicas 1`` spreads the 16,384 slots over three masters and gives each
a replica. Ready means every node reports ``cluster_state:ok`` and every
replica's link to its master is up.

Used by ``scripts/redis_cluster`` (CI and developers), the cluster tests
(tests/test_redis_cluster.py) and the cluster benchmark (bench/cluster.py). No
Django imports, as deploy/stack.py.
"""

# The commands are fixed programs (redis-server, redis-cli) with our own arguments.
# ruff: noqa: S603, S607
from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path


class ClusterError(RuntimeError):
    pass


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_cluster_port(taken: set[int]) -> int:
    """A free loopback port whose cluster bus port (+10000) is free as well."""
    for _ in range(200):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port < 55000 and port not in taken and _port_free(port + 10000):
            return port
    raise ClusterError("no free loopback port pair for a cluster node")


@dataclass
class ClusterNode:
    port: int
    folder: Path
    host: str = "127.0.0.1"
    process: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def cli(self, *args: str, timeout: float = 10) -> str:
        done = subprocess.run(
            ["redis-cli", "-h", self.host, "-p", str(self.port), *args],
            capture_output=True, text=True, timeout=timeout, check=False,
        )
        return done.stdout.strip()

    def info(self, section: str) -> dict[str, str]:
        lines = self.cli("INFO", section).splitlines()
        return dict(line.split(":", 1) for line in lines if ":" in line)

    @property
    def alive(self) -> bool:
        if self.process is None:  # attached to a cluster another process started
            return self.cli("PING", timeout=2) == "PONG"
        return self.process.poll() is None


class RedisCluster:
    def __init__(self, base_dir: Path, *, masters: int = 3, node_timeout_ms: int = 2000) -> None:
        self.base_dir = Path(base_dir)
        self.size = masters * 2
        self.node_timeout_ms = node_timeout_ms
        self.nodes: list[ClusterNode] = []

    @classmethod
    def attach(cls, url: str) -> RedisCluster:
        """A handle on a running cluster (redis+cluster://host:port,...; every node
        listed, as `url` gives them): failover works, kill needs our own processes."""
        cluster = cls(Path("."))
        for part in url.removeprefix("redis+cluster://").split(","):
            host, _, port = part.rpartition(":")
            cluster.nodes.append(ClusterNode(port=int(port), folder=Path("."), host=host))
        cluster.size = len(cluster.nodes)
        return cluster

    @property
    def url(self) -> str:
        """REDIS_URL for the service: every node as a startup node."""
        return "redis+cluster://" + ",".join(node.address for node in self.nodes)

    def __enter__(self) -> RedisCluster:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self, timeout: float = 30) -> None:
        if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
            raise ClusterError("redis-server and redis-cli are needed (Debian: redis-server)")
        taken: set[int] = set()
        for _ in range(self.size):
            port = free_cluster_port(taken)
            taken.add(port)
            folder = self.base_dir / str(port)
            folder.mkdir(parents=True, exist_ok=True)
            node = ClusterNode(port=port, folder=folder)
            self._spawn(node)
            self.nodes.append(node)
        self._wait(lambda: all(n.cli("PING") == "PONG" for n in self.nodes), timeout, "nodes up")
        created = subprocess.run(
            ["redis-cli", "--cluster", "create", *(n.address for n in self.nodes),
             "--cluster-replicas", "1", "--cluster-yes"],
            capture_output=True, text=True, timeout=60, check=False,
        )
        if created.returncode != 0:
            raise ClusterError(f"redis-cli --cluster create failed:\n{created.stdout}\n"
                               f"{created.stderr}")
        self.wait_ready(timeout)

    def _spawn(self, node: ClusterNode) -> None:
        log = open(node.folder / "redis.log", "ab")  # noqa: SIM115 - the process owns it
        node.process = subprocess.Popen(
            ["redis-server", "--port", str(node.port), "--bind", node.host,
             "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
             "--cluster-node-timeout", str(self.node_timeout_ms),
             "--dir", str(node.folder), "--save", "", "--appendonly", "no",
             "--protected-mode", "no"],
            stdout=log, stderr=subprocess.STDOUT,
        )
        log.close()

    def wait_ready(self, timeout: float = 30) -> None:
        """Every live node sees a healthy cluster and every live replica is in sync."""
        def ready() -> bool:
            for node in self.live_nodes():
                if "cluster_state:ok" not in node.cli("CLUSTER", "INFO"):
                    return False
                replication = node.info("replication")
                if replication.get("role") == "slave" and \
                        replication.get("master_link_status") != "up":
                    return False
            return len(self.masters()) == self.size // 2
        self._wait(ready, timeout, "cluster_state:ok on every node")

    def live_nodes(self) -> list[ClusterNode]:
        return [node for node in self.nodes if node.alive]

    def role(self, node: ClusterNode) -> str:
        return node.info("replication").get("role", "")

    def masters(self) -> list[ClusterNode]:
        return [node for node in self.live_nodes() if self.role(node) == "master"
                and self._owns_slots(node)]

    def _owns_slots(self, node: ClusterNode) -> bool:
        for line in node.cli("CLUSTER", "NODES").splitlines():
            parts = line.split()
            if "myself" in parts[2]:
                return len(parts) > 8
        return False

    def replica_of(self, master: ClusterNode) -> ClusterNode:
        master_id = master.cli("CLUSTER", "MYID")
        for node in self.live_nodes():
            if node is not master and master_id in node.cli("CLUSTER", "NODES") and \
                    self.role(node) == "slave" and \
                    self._master_id_of(node) == master_id:
                return node
        raise ClusterError(f"{master.address} has no live replica")

    @staticmethod
    def _master_id_of(node: ClusterNode) -> str:
        for line in node.cli("CLUSTER", "NODES").splitlines():
            parts = line.split()
            if "myself" in parts[2]:
                return parts[3]
        return ""

    def master_for_slot(self, slot: int) -> ClusterNode:
        for node in self.masters():
            for line in node.cli("CLUSTER", "NODES").splitlines():
                parts = line.split()
                if "myself" not in parts[2]:
                    continue
                for span in parts[8:]:
                    if span.startswith("["):
                        continue
                    low, _, high = span.partition("-")
                    if int(low) <= slot <= int(high or low):
                        return node
        raise ClusterError(f"no master owns slot {slot}")

    def failover(self, master: ClusterNode, timeout: float = 30) -> ClusterNode:
        """Promote one of `master`'s replicas (CLUSTER FAILOVER, the manual, lossless
        kind: the replica catches up before it takes over). Returns the new master."""
        replica = self.replica_of(master)
        answer = replica.cli("CLUSTER", "FAILOVER")
        if answer != "OK":
            raise ClusterError(f"CLUSTER FAILOVER on {replica.address}: {answer}")
        self._wait(lambda: self.role(replica) == "master" and self.role(master) == "slave",
                   timeout, "the replica to take over")
        self.wait_ready(timeout)
        return replica

    def kill(self, node: ClusterNode, timeout: float = 30) -> None:
        """SIGKILL a node; when it was a master, wait until its replica has taken over."""
        was_master = node in self.masters()
        assert node.process is not None
        node.process.send_signal(signal.SIGKILL)
        node.process.wait(timeout=10)
        if was_master:
            self._wait(lambda: len(self.masters()) == self.size // 2, timeout,
                       "a replica to take over from the killed master")
        self.wait_ready(timeout)

    def stop(self) -> None:
        for node in self.nodes:
            if node.alive:
                assert node.process is not None
                node.process.terminate()
        for node in self.nodes:
            if node.process is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    node.process.wait(timeout=10)
                if node.alive:
                    node.process.kill()

    @staticmethod
    def _wait(condition, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(subprocess.TimeoutExpired, ValueError, IndexError):
                if condition():
                    return
            time.sleep(0.1)
        raise ClusterError(f"timed out after {timeout:.0f} s waiting for {what}")
