"""Fixtures for the cluster tests: tidings nodes on a real Redis, and a Redis of our own to break.

The machine's Redis (127.0.0.1:6379) is shared: every test uses its own key prefix and
never stops it. Fault tests start their own ``redis-server`` on a free port and kill it.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import shutil
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import redis.asyncio as aioredis

import tidings
import tidings.standalone
from tests.e2e.conftest import node, start_node  # noqa: F401  (fixtures used here)
from tidings.adapters.redis import RedisAdapter

SHARED_REDIS = "redis://127.0.0.1:6379/0"
FORMATS = ("classic", "sharded", "streams")


@pytest.fixture
def prefix() -> str:
    """A key prefix of this test's own on the shared Redis."""
    return f"t-{secrets.token_hex(6)}"


@pytest.fixture(params=FORMATS)
def wire_format(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@dataclass
class Node:
    """One tidings server of a test cluster."""

    sio: tidings.Server
    factory: RedisAdapter
    url: str
    stop: Callable[[], Awaitable[None]]

    @property
    def adapter(self) -> Any:
        return self.sio.of("/").adapter


@dataclass
class Cluster:
    """Start tidings nodes on one Redis; all of them stop with the test."""

    redis_url: str
    prefix: str
    stack: contextlib.AsyncExitStack
    nodes: list[Node] = field(default_factory=list)

    async def start(
        self,
        wire_format: str,
        setup: Callable[[tidings.Server], None] | None = None,
        *,
        shutdown_timeout: float = 10.0,
        **options: Any,
    ) -> Node:
        """A node in ``wire_format`` (``options`` go to its ``RedisAdapter``); when it stops,
        handlers still running after ``shutdown_timeout`` seconds are cancelled."""
        options.setdefault("requests_timeout", 3.0)
        if wire_format == "streams":
            options.setdefault("stream_name", self.prefix)
        factory = RedisAdapter(self.redis_url, format=wire_format, key_prefix=self.prefix, **options)
        sio = tidings.Server(adapter_factory=factory)
        if setup is not None:
            setup(sio)
        inner = contextlib.AsyncExitStack()
        srv = await inner.enter_async_context(tidings.standalone.serve(sio, "127.0.0.1", 0))

        async def stop() -> None:
            await srv.close(shutdown_timeout)
            await inner.aclose()
            await factory.close()

        made = Node(sio, factory, f"http://127.0.0.1:{srv.port}", stop)
        self.stack.push_async_callback(stop)
        self.nodes.append(made)
        return made


@pytest.fixture
async def cluster(prefix: str) -> AsyncIterator[Cluster]:
    async with contextlib.AsyncExitStack() as stack:
        made = Cluster(SHARED_REDIS, prefix, stack)
        yield made
    client = aioredis.Redis.from_url(SHARED_REDIS)
    await client.delete(prefix)  # the streams format's stream, named after the prefix
    await client.aclose()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class OwnRedis:
    """A ``redis-server`` of this test's own (no persistence), which it may kill and restart."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.proc = await asyncio.create_subprocess_exec(
            binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )
        client = aioredis.Redis(host="127.0.0.1", port=self.port)
        try:
            for _ in range(200):  # until it accepts connections (at most 10 s)
                try:
                    await client.ping()
                    return
                except (OSError, aioredis.ConnectionError):
                    await asyncio.sleep(0.05)
            raise RuntimeError("redis-server did not start")
        finally:
            await client.aclose()

    async def kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()
        self.proc = None


@pytest.fixture
async def own_redis() -> AsyncIterator[OwnRedis]:
    server = OwnRedis()
    await server.start()
    try:
        yield server
    finally:
        await server.kill()
