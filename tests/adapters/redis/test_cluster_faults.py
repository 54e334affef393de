"""Faults: Redis restarted under a running cluster, a node dying mid-request, junk on the channels.

These tests start a Redis of their own on a free port and kill it; they never touch the
machine's Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import pytest
import redis.asyncio as aioredis

import tidings
from tests.e2e.harness import NodeClient
from tidings.errors import AckTimeoutError, ClusterError

from .conftest import Cluster, OwnRedis
from .test_cluster_operations import app, connect


async def until_counted(sio: tidings.Server, servers: int) -> None:
    """Redis counts ``servers`` again (the nodes resubscribed by themselves); no event says so."""
    for _ in range(200):
        with contextlib.suppress(ClusterError):
            if await sio.server_count() == servers:
                return
        await asyncio.sleep(0.05)
    raise AssertionError(f"Redis never counted {servers} servers")


@pytest.fixture
async def own_cluster(own_redis: OwnRedis, prefix: str) -> Any:
    async with contextlib.AsyncExitStack() as stack:
        yield Cluster(own_redis.url, prefix, stack)


async def test_redis_restart(own_redis: OwnRedis, own_cluster: Cluster, node: NodeClient, wire_format: str) -> None:
    hold = asyncio.Event()
    asked = asyncio.Event()

    def setup(sio: tidings.Server) -> None:
        app(sio)

        @sio.on_server_event("slow")
        async def slow() -> str:
            asked.set()
            await hold.wait()
            return "late"

    a = await own_cluster.start(wire_format, setup, requests_timeout=30)
    b = await own_cluster.start(wire_format, setup, requests_timeout=30)
    ca = await connect(node, a.url, "ca")
    cb = await connect(node, b.url, "cb")
    pending = asyncio.ensure_future(a.sio.server_side_emit_with_ack("slow", timeout=30))
    await asyncio.wait_for(asked.wait(), 5)  # the request is out and waits for B's answer
    await own_redis.kill()
    # The request in flight fails at once with a clear error instead of waiting 30 s.
    with pytest.raises(ClusterError, match="connection to Redis lost"):
        await asyncio.wait_for(pending, 5)
    # A broadcast while Redis is down reaches this node's clients, and the caller learns the rest did not.
    with pytest.raises(ClusterError):
        await a.sio.emit("while-down", 1)
    assert await ca.event("while-down") == [1]
    hold.set()
    await own_redis.start()
    await until_counted(a.sio, 2)
    await a.sio.emit("after", 2)
    assert await cb.event("after") == [2]
    assert cb.received("while-down") == []
    assert {s.id for s in await b.sio.fetch_sockets()} == {ca.sid, cb.sid}


async def test_a_node_dies_mid_request(cluster: Cluster, wire_format: str) -> None:
    started = asyncio.Event()
    never = asyncio.Event()

    def answering(sio: tidings.Server) -> None:
        @sio.on_server_event("ask")
        def ask() -> str:
            return "b"

    def dying(sio: tidings.Server) -> None:
        @sio.on_server_event("ask")
        async def ask() -> str:
            started.set()
            await never.wait()
            return "c"

    a = await cluster.start(wire_format)
    await cluster.start(wire_format, answering)
    # Its handler never ends: when the test stops it, cancelled after 0.1 s rather than 10.
    c = await cluster.start(wire_format, dying, shutdown_timeout=0.1)
    asking = asyncio.ensure_future(a.sio.server_side_emit_with_ack("ask", timeout=1.5))
    await asyncio.wait_for(started.wait(), 5)
    await c.factory.close()  # its Redis connections drop: to the cluster, it died
    with pytest.raises(AckTimeoutError) as caught:
        await asyncio.wait_for(asking, 5)
    assert caught.value.responses == ["b"]
    assert await a.sio.server_count() == 2


async def test_junk_on_the_channels_is_logged_and_dropped(
    cluster: Cluster, node: NodeClient, wire_format: str, caplog: pytest.LogCaptureFixture
) -> None:
    a = await cluster.start(wire_format, app)
    b = await cluster.start(wire_format, app)
    cb = await connect(node, b.url, "cb")
    raw = aioredis.Redis.from_url(cluster.redis_url)
    try:
        subs = b.factory.wire.subscriptions("/", b.adapter.uid)
        command = "SPUBLISH" if subs.sharded else "PUBLISH"
        with caplog.at_level(logging.WARNING, logger="tidings.adapters.redis"):
            for channel in subs.channels:
                for junk in (b"", b"\xc1\xff", b"{not json", b'{"type": 99}', b"\x93\xa1x\xc0\xc0"):
                    await raw.execute_command(command, channel, junk)
            for stream in subs.streams:
                await raw.xadd(stream, {"uid": "x", "nsp": "/", "type": "3", "data": "{bad"})
            await a.sio.emit("still-fine", 1)
            assert await cb.event("still-fine") == [1]
        assert any("dropped" in r.getMessage() for r in caplog.records)
    finally:
        await raw.aclose()
