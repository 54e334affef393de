"""Fixtures for the cluster tests: Redis, cluster nodes of both kinds, a private Redis.

The machine's Redis at 127.0.0.1:6379 is shared: each test works under its own key
prefix and never flushes, stops or reconfigures it. Tests that break Redis on purpose
start their own ``redis-server`` on a free port (:func:`private_redis`).
"""

from __future__ import annotations

import secrets
import shutil
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
from .redis_server import REDIS_HOST, PrivateRedis, free_port, redis_command
from .tidings_node import TidingsNode

__all__ = ["node", "start_node"]

REDIS_PORT = 6379


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
def cluster_redis_url(redis_url: str) -> str:
    """The Redis the cluster's nodes use: the shared one, unless a test class overrides
    this with ``private_redis.url`` to break it on purpose."""
    return redis_url


@pytest.fixture
async def start_node_server(
    node_bin: str, cluster_redis_url: str, key_prefix: str, fmt: str
) -> AsyncIterator[NodeFactory]:
    """Start Node socket.io servers with the official adapter in ``fmt``; stopped by the test."""
    started: list[NodeServer] = []

    async def start(name: str) -> ClusterNode:
        server = await NodeServer.start(node_bin, name, fmt, key_prefix, cluster_redis_url)
        started.append(server)
        return server

    yield start
    for server in started:
        await server.stop()


@pytest.fixture
async def start_tidings_node(
    cluster_redis_url: str, key_prefix: str, fmt: str
) -> AsyncIterator[NodeFactory]:
    """Start tidings servers with ``RedisAdapter(format=fmt)`` in this test's loop."""
    started: list[TidingsNode] = []

    async def start(name: str) -> ClusterNode:
        server = await TidingsNode.start(name, fmt, key_prefix, cluster_redis_url)
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
