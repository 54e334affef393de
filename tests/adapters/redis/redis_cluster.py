"""A Redis Cluster of the tests' own: three masters, no replicas, on free loopback ports.

The sharded format is meant for Redis Cluster, where each shard channel lives on the
master that owns its hash slot; only a real cluster shows that SSUBSCRIBE, SPUBLISH and
the server count work across shards. Never touches the machine's Redis.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

import pytest
import redis
from redis.asyncio.cluster import RedisCluster
from redis.crc import key_slot

import tidings
import tidings.standalone
from tidings.adapters.redis import RedisAdapter


def _binary(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: the Redis Cluster tests need it", pytrace=False)
    return found


def _free_ports(count: int) -> list[int]:
    """Ports free right now, held open together so they differ."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in socks]


class OwnRedisCluster:
    """``masters`` redis-server processes in cluster mode, joined into one cluster."""

    def __init__(self, masters: int = 3) -> None:
        ports = _free_ports(2 * masters)
        self.ports = ports[:masters]
        self.bus_ports = ports[masters:]
        self.procs: list[subprocess.Popen[bytes]] = []
        self.dirs: list[str] = []

    def start(self) -> None:
        server, cli = _binary("redis-server"), _binary("redis-cli")
        for port, bus_port in zip(self.ports, self.bus_ports, strict=True):
            workdir = tempfile.mkdtemp(prefix=f"redis-cluster-{port}-")
            self.dirs.append(workdir)
            self.procs.append(subprocess.Popen(
                [server, "--port", str(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
                 "--cluster-config-file", "nodes.conf", "--cluster-port", str(bus_port),
                 "--save", "", "--appendonly", "no", "--dir", workdir],
                cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            ))
        for port in self.ports:
            self._until(lambda p=port: self._client(p).ping(), f"redis-server on {port} never answered")
        subprocess.run(
            [cli, "--cluster", "create", *(f"127.0.0.1:{p}" for p in self.ports),
             "--cluster-replicas", "0", "--cluster-yes"],
            check=True, capture_output=True, timeout=60,
        )
        for port in self.ports:
            self._until(
                lambda p=port: self._cluster_ok(p),
                f"node {port} never said cluster_state:ok",
            )

    def _cluster_ok(self, port: int) -> bool:
        info = self._client(port).execute_command("CLUSTER INFO")
        if isinstance(info, dict):  # parsed by redis-py
            return bool(info.get("cluster_state") == "ok")
        return b"cluster_state:ok" in info

    def _client(self, port: int) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=port, socket_timeout=2, single_connection_client=True)

    def _until(self, check: object, failure: str) -> None:
        """Poll ``check`` (no event tells when a server or the cluster is ready), 20 s at most."""
        for _ in range(400):
            with contextlib.suppress(redis.RedisError, OSError):
                if check():  # type: ignore[operator]
                    return
            time.sleep(0.05)
        raise RuntimeError(failure)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        self.procs.clear()
        for workdir in self.dirs:
            shutil.rmtree(workdir, ignore_errors=True)
        self.dirs.clear()

    def master_of(self, key: str) -> int:
        """The port of the master that owns ``key``'s hash slot."""
        slot = key_slot(key.encode())
        for start, end, (_host, port, *_rest), *_replicas in self._client(self.ports[0]).execute_command(
            "CLUSTER SLOTS"
        ):
            if start <= slot <= end:
                return int(port)
        raise LookupError(f"slot {slot} is not covered")

    def shard_subscribers(self, channel: str) -> dict[int, int]:
        """SHARDNUMSUB of ``channel`` on each master, by port."""
        return {
            port: sum(int(n) for _, n in self._client(port).execute_command("PUBSUB SHARDNUMSUB", channel))
            for port in self.ports
        }


@pytest.fixture(scope="module", name="redis_cluster")
def redis_cluster_fixture() -> Iterator[OwnRedisCluster]:
    """One cluster for a test module (about 3 s to form); each test has its own key prefix."""
    made = OwnRedisCluster()
    try:
        made.start()
        yield made
    finally:
        made.stop()


@dataclass
class ShardedNode:
    """One tidings server of a test cluster on Redis Cluster."""

    sio: tidings.Server
    factory: RedisAdapter
    url: str


@dataclass
class ShardedCluster:
    """Start tidings nodes with the sharded format on ``redis``; all of them stop with the test."""

    redis: OwnRedisCluster
    prefix: str
    stack: contextlib.AsyncExitStack
    nodes: list[ShardedNode] = field(default_factory=list)

    async def start(self, setup: object = None, **options: object) -> ShardedNode:
        options.setdefault("requests_timeout", 3.0)
        client = RedisCluster(host="127.0.0.1", port=self.redis.ports[len(self.nodes) % len(self.redis.ports)])
        self.stack.push_async_callback(client.aclose)
        factory = RedisAdapter(client, format="sharded", key_prefix=self.prefix, **options)  # type: ignore[arg-type]
        self.stack.push_async_callback(factory.close)
        sio = tidings.Server(adapter_factory=factory)
        if setup is not None:
            setup(sio)  # type: ignore[operator]
        srv = await self.stack.enter_async_context(tidings.standalone.serve(sio, "127.0.0.1", 0))
        made = ShardedNode(sio, factory, f"http://127.0.0.1:{srv.port}")
        self.nodes.append(made)
        return made


@pytest.fixture(name="sharded_cluster")
async def sharded_cluster_fixture(redis_cluster: OwnRedisCluster, prefix: str) -> AsyncIterator[ShardedCluster]:
    async with contextlib.AsyncExitStack() as stack:
        yield ShardedCluster(redis_cluster, prefix, stack)
