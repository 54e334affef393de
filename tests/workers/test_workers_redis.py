"""Workers on Redis instead of the local bus: ``--redis URL``, or an app that has its own
Redis adapter (which it keeps)."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from tests.e2e.harness import NodeClient

from .supervised import Supervised
from .test_workers_serve import StartSupervisor, spread_clients

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
async def redis_client() -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(REDIS_URL)
    yield client
    await client.aclose()


async def subscribers(client: aioredis.Redis, channel: str) -> int:
    return int((await client.pubsub_numsub(channel))[0][1])


async def test_redis_option_puts_the_workers_on_redis(
    start_supervisor: StartSupervisor, node: NodeClient, redis_client: aioredis.Redis
) -> None:
    prefix = f"t-workers-{uuid.uuid4().hex[:10]}"
    served = await start_supervisor("--workers", "2", "--redis", REDIS_URL, "--redis-key", prefix)
    assert await subscribers(redis_client, f"{prefix}-request#/#") == 2
    by_pid = await spread_clients(node, served.url)
    (pid_a, (a, *_)), (pid_b, (b, *_)) = by_pid.items()
    assert pid_a != pid_b
    await a.call("join", "r")
    await b.call("join", "r")
    await a.call("to_room", "r", "via redis")
    assert await b.event("news") == ["via redis", pid_a]
    assert await b.call("server_count") == [2]


async def test_an_app_with_its_own_cluster_adapter_keeps_it(
    node: NodeClient, redis_client: aioredis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    prefix = f"t-workers-{uuid.uuid4().hex[:10]}"
    monkeypatch.setitem(os.environ, "TIDINGS_TEST_PREFIX", prefix)
    served = await Supervised.start("--workers", "2", app="redis_app:sio")
    try:
        assert sum("keeps its own adapter <RedisAdapter classic>" in line for line in served.lines) == 2
        assert await subscribers(redis_client, f"{prefix}-request#/#") == 2
        by_pid = await spread_clients(node, served.url)
        (_, (a, *_)), _ = by_pid.items()
        assert await a.call("server_count") == [2]
    finally:
        assert await served.stop() == 0
