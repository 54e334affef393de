"""Fixtures for the cluster tests: Redis, cluster nodes of both kinds, a private Redis.

The machine's Redis at 127.0.0.1:6379 is shared: each test works under its own key
prefix and never flushes, stops or reconfigures it. Tests that break Redis on purpose
start their own ``redis-server`` on a free port (:func:`private_redis`).
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
import socket
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from pathlib import Path

import pytest

# The scenarios and the bed assert too: show their comparisons as in test modules.
pytest.register_assert_rewrite("tests.cluster.bed", "tests.cluster.scenarios")

from tests.e2e.conftest import node, start_node
from tests.e2e.harness import NodeClient

from .bed import Cluster
from .emitters import ClusterEmitter, NodeEmitter, TidingsEmitter
from .harness import FORMATS, ClusterNode, NodeServer
from .tidings_node import TidingsNode

__all__ = ["node", "start_node"]

REDIS_HOST = "127.0.0.1"
REDIS_PORT = 6379


def redis_command(port: int, *words: str, timeout: float = 2.0) -> bytes:
    """One RESP command to the Redis on 127.0.0.1:``port``; returns the raw reply line."""
    request = f"*{len(words)}\r\n".encode() + b"".join(
        f"${len(w.encode())}\r\n{w}\r\n".encode() for w in words
    )
    with socket.create_connection((REDIS_HOST, port), timeout=timeout) as conn:
        conn.sendall(request)
        return conn.recv(65536)


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The shared Redis; a test that needs it fails (never skips) when it does not answer."""
    try:
        reply = redis_command(REDIS_PORT, "PING")
    except OSError as exc:
        pytest.fail(
            f"no Redis answers at {REDIS_HOST}:{REDIS_PORT} ({exc}): start one"
            " (scripts/test checks this; on Debian: apt-get install -y redis-server)"
        )
    if not reply.startswith(b"+PONG"):
        pytest.fail(f"{REDIS_HOST}:{REDIS_PORT} answered PING with {reply!r}: is it Redis?")
    return f"redis://{REDIS_HOST}:{REDIS_PORT}/0"


@pytest.fixture
def key_prefix() -> Iterator[str]:
    """This test's own channel prefix (and stream name): nothing it does reaches another test."""
    prefix = f"t-{secrets.token_hex(5)}"
    yield prefix
    # The streams format leaves its stream behind (the only key any format writes here).
    redis_command(REDIS_PORT, "DEL", prefix)


@pytest.fixture(params=FORMATS)
def fmt(request: pytest.FixtureRequest) -> str:
    """The cluster's wire format: classic, sharded (dynamic mode) or streams."""
    return str(request.param)


NodeFactory = Callable[[str], Awaitable[ClusterNode]]


@pytest.fixture
async def start_node_server(
    node_bin: str, redis_url: str, key_prefix: str, fmt: str
) -> AsyncIterator[NodeFactory]:
    """Start Node socket.io servers with the official adapter in ``fmt``; stopped by the test."""
    started: list[NodeServer] = []

    async def start(name: str) -> ClusterNode:
        server = await NodeServer.start(node_bin, name, fmt, key_prefix, redis_url)
        started.append(server)
        return server

    yield start
    for server in started:
        await server.stop()


@pytest.fixture
async def start_tidings_node(
    redis_url: str, key_prefix: str, fmt: str
) -> AsyncIterator[NodeFactory]:
    """Start tidings servers with ``RedisAdapter(format=fmt)`` in this test's loop."""
    started: list[TidingsNode] = []

    async def start(name: str) -> ClusterNode:
        server = await TidingsNode.start(name, fmt, key_prefix, redis_url)
        started.append(server)
        return server

    yield start
    for server in started:
        await server.stop()


@pytest.fixture
async def cluster(
    kinds: Sequence[str],
    node: NodeClient,
    start_node_server: NodeFactory,
    start_tidings_node: NodeFactory,
) -> Cluster:
    """Nodes of the given kinds ("node" or "tidings") on one prefix, formed (each counts
    all), with two official clients on each, in their rooms (see ``bed``)."""
    nodes = []
    for i, kind in enumerate(kinds):
        start = start_node_server if kind == "node" else start_tidings_node
        nodes.append(await start(f"{kind}{i}"))
    bed = Cluster(nodes, node)
    await bed.formed()
    await bed.connect_all()
    return bed


@pytest.fixture
async def emitter(
    emitter_kind: str, node_bin: str, redis_url: str, key_prefix: str
) -> AsyncIterator[ClusterEmitter]:
    """The official Redis emitter ("node") or ``tidings.Emitter`` ("tidings") on this
    test's prefix."""
    made: ClusterEmitter
    if emitter_kind == "node":
        made = await NodeEmitter.start(node_bin, key_prefix, redis_url)
    else:
        made = await TidingsEmitter.start(key_prefix, redis_url)
    yield made
    await made.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind((REDIS_HOST, 0))
        return int(s.getsockname()[1])


class PrivateRedis:
    """A ``redis-server`` of the test's own, on a free port, without persistence."""

    def __init__(self, binary: str, port: int, workdir: Path) -> None:
        self.binary = binary
        self.port = port
        self.workdir = workdir
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"redis://{REDIS_HOST}:{self.port}/0"

    async def start(self) -> None:
        """Start it (again, on the same port) and wait until it answers PING."""
        assert self.proc is None, "already running"
        self.proc = await asyncio.create_subprocess_exec(
            self.binary,
            "--port", str(self.port),
            "--bind", REDIS_HOST,
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self.workdir),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while True:
            try:
                if redis_command(self.port, "PING", timeout=0.5).startswith(b"+PONG"):
                    return
            except OSError:
                pass
            if self.proc.returncode is not None or loop.time() > deadline:
                raise AssertionError(f"redis-server on port {self.port} did not come up")
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        """Kill it (by its PID): clients see their connections drop, as in a crash."""
        if self.proc is not None:
            if self.proc.returncode is None:
                self.proc.kill()
            await self.proc.wait()
            self.proc = None

    async def restart(self) -> None:
        await self.stop()
        await self.start()


@pytest.fixture
async def private_redis() -> AsyncIterator[PrivateRedis]:
    """A running ``redis-server`` on a free port for fault tests; killed after the test."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is missing: scripts/test installs it (apt-get install -y redis-server)")
    with tempfile.TemporaryDirectory(prefix="tidings-redis-") as workdir:
        server = PrivateRedis(binary, free_port(), Path(workdir))
        await server.start()
        try:
            yield server
        finally:
            await server.stop()
