"""Real Redis topologies for tests: a Redis Cluster (3 masters, 3 replicas) and a Sentinel group.

Everything runs from ``redis-server`` (Sentinel is ``redis-server --sentinel``) on free ports in a
temporary directory, with short failure-detection timeouts so a failover takes a few seconds.
Missing ``redis-server`` → the tests skip loudly, and fail in CI.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis
from redis.cluster import RedisCluster as SyncCluster

NODE_TIMEOUT_MS = 1000


def require_redis_server() -> str:
    """The ``redis-server`` binary; missing → fail in CI, skip loudly elsewhere."""
    found = shutil.which("redis-server")
    if found is None:
        message = "redis-server is not installed: the Redis Cluster / Sentinel tests need it (apt-get install redis-server)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found


def _free_port(bus_too: bool = False) -> int:
    """A free port (and, for cluster nodes, a free bus port at +10000)."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port + 10000 > 65535 and bus_too:
            continue
        if bus_too:
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port + 10000))
                except OSError:
                    continue
        return port
    raise RuntimeError("no free port pair")


def _wait(predicate: "object", timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if predicate():  # type: ignore[operator]
                return
        except Exception as exc:  # noqa: BLE001 - nodes come up at their own pace
            last = exc
        time.sleep(0.1)
    raise RuntimeError(f"timed out waiting for {what} ({last})")


@dataclass
class Node:
    port: int
    workdir: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self, binary: str, *args: str) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [binary, *args], cwd=self.workdir, stdout=(self.workdir / "log").open("ab"), stderr=subprocess.STDOUT
        )

    def client(self, *, decode: bool = False) -> redis.Redis:
        return redis.Redis(
            host="127.0.0.1", port=self.port, socket_timeout=2, socket_connect_timeout=1, decode_responses=decode
        )

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


def _server_args(port: int) -> list[str]:
    return [
        "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--protected-mode", "no",
        # a replica's first full sync starts at once (Redis waits 5 s by default for more replicas to join it)
        "--repl-diskless-sync-delay", "0",
    ]


def replicas_in_sync(master: Node, expected: int) -> bool:
    """``expected`` replicas are ``online`` (their first full sync done) and have acknowledged every write so far.

    A replica only *connected* (``wait_bgsave``, ``send_bulk``) holds none of the master's data: a master killed
    then leaves a promoted replica that has never seen the keys written before (issue #21: the Sentinel 401).
    """
    info = master.client(decode=True).info("replication")
    offset = int(info["master_repl_offset"])
    replicas = [v for k, v in info.items() if k.startswith("slave") and isinstance(v, dict)]
    return len(replicas) == expected and all(r["state"] == "online" and int(r["offset"]) >= offset for r in replicas)


@dataclass
class Cluster:
    """Three masters with one replica each; ``url`` seeds the gateway's cluster client."""

    root: Path
    nodes: list[Node] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"redis+cluster://127.0.0.1:{self.nodes[0].port}"

    def start(self) -> "Cluster":
        binary = require_redis_server()
        self.nodes = [Node(_free_port(bus_too=True), self.root / f"node{i}") for i in range(6)]
        for node in self.nodes:
            node.start(
                binary, *_server_args(node.port), "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                "--cluster-node-timeout", str(NODE_TIMEOUT_MS), "--cluster-replica-validity-factor", "0",
            )
        for node in self.nodes:
            _wait(lambda n=node: n.client().ping(), 10, f"cluster node {node.port}")
        cli = shutil.which("redis-cli") or "redis-cli"
        addresses = [f"127.0.0.1:{n.port}" for n in self.nodes]
        subprocess.run(
            [cli, "--cluster", "create", *addresses, "--cluster-replicas", "1", "--cluster-yes"],
            check=True, capture_output=True, timeout=60,
        )
        _wait(self.healthy, 30, "cluster_state:ok on every node")
        for master in self.masters():
            _wait(lambda m=master: replicas_in_sync(m, 1), 30, f"the replica of {master.port} in sync")
        return self

    def healthy(self) -> bool:
        """Every live node reports cluster_state ok and the cluster has three reachable masters."""
        live = [n for n in self.nodes if n.alive]
        if not all(n.client().cluster("info")["cluster_state"] == "ok" for n in live):  # type: ignore[index]
            return False
        return len(self.masters()) == 3

    def masters(self) -> list[Node]:
        by_port = {n.port: n for n in self.nodes if n.alive}
        found = []
        for node in by_port.values():
            role = node.client().execute_command("ROLE")[0]
            if (role.decode() if isinstance(role, bytes) else role) == "master":
                found.append(node)
        return found

    def master_for(self, key: str) -> Node:
        """The node currently serving ``key``'s hash slot as master."""
        live = next(n for n in self.nodes if n.alive)
        slot = int(live.client().cluster("keyslot", key))  # type: ignore[arg-type]
        for node in self.masters():
            for start, end in _slot_ranges(node):
                if start <= slot <= end:
                    return node
        raise RuntimeError(f"no master serves slot {slot}")

    def epoch(self) -> str:
        """The cluster's current epoch (each failover raises it): for failure messages."""
        live = next(n for n in self.nodes if n.alive)
        return str(live.client().cluster("info").get("cluster_current_epoch"))  # type: ignore[union-attr]

    def client(self) -> SyncCluster:
        live = next(n for n in self.nodes if n.alive)
        return SyncCluster(host="127.0.0.1", port=live.port, decode_responses=True)

    def stop(self) -> None:
        for node in self.nodes:
            node.kill()


def _slot_ranges(node: Node) -> list[tuple[int, int]]:
    myself = next(line for line in node.client().execute_command("CLUSTER", "NODES").decode().splitlines() if "myself" in line)
    ranges = []
    for part in myself.split()[8:]:
        if part.startswith("["):
            continue
        start, _, end = part.partition("-")
        ranges.append((int(start), int(end or start)))
    return ranges


@dataclass
class SentinelGroup:
    """One master, two replicas, three sentinels watching service ``vgmaster`` (quorum 2)."""

    root: Path
    service: str = "vgmaster"
    servers: list[Node] = field(default_factory=list)
    sentinels: list[Node] = field(default_factory=list)

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)
        return f"redis+sentinel://{hosts}/{self.service}/0"

    def start(self) -> "SentinelGroup":
        binary = require_redis_server()
        self.servers = [Node(_free_port(), self.root / f"redis{i}") for i in range(3)]
        master = self.servers[0]
        for i, node in enumerate(self.servers):
            extra = [] if i == 0 else ["--replicaof", "127.0.0.1", str(master.port)]
            node.start(binary, *_server_args(node.port), *extra)
        for node in self.servers:
            _wait(lambda n=node: n.client().ping(), 10, f"redis {node.port}")
        _wait(lambda: replicas_in_sync(master, 2), 20, "two replicas in sync")
        self.sentinels = [Node(_free_port(), self.root / f"sentinel{i}") for i in range(3)]
        for node in self.sentinels:
            node.workdir.mkdir(parents=True, exist_ok=True)
            conf = node.workdir / "sentinel.conf"
            conf.write_text(
                f"port {node.port}\nbind 127.0.0.1\nprotected-mode no\n"
                f"sentinel monitor {self.service} 127.0.0.1 {master.port} 2\n"
                f"sentinel down-after-milliseconds {self.service} {NODE_TIMEOUT_MS}\n"
                f"sentinel failover-timeout {self.service} 10000\n"
                f"sentinel parallel-syncs {self.service} 2\n"
            )
            node.start(binary, str(conf), "--sentinel")
        for node in self.sentinels:
            _wait(lambda n=node: _sentinel_sees_replicas(n, self.service), 20, f"sentinel {node.port} ready")
        return self

    def epoch(self) -> str:
        """The group's configuration epoch (each failover raises it; 1 after the test's one): for failure messages."""
        return str(self.sentinels[0].client().sentinel_master(self.service).get("config-epoch"))

    def master(self) -> Node:
        """The server the sentinels currently name as master."""
        host, port = self.sentinels[0].client().sentinel_get_master_addr_by_name(self.service)
        return next(n for n in self.servers if n.port == int(port))

    def client(self) -> redis.Redis:
        return self.master().client(decode=True)

    def stop(self) -> None:
        for node in [*self.sentinels, *self.servers]:
            node.kill()


def _sentinel_sees_replicas(node: Node, service: str) -> bool:
    info = node.client().sentinel_master(service)
    return int(info["num-slaves"]) == 2 and int(info["num-other-sentinels"]) == 2
