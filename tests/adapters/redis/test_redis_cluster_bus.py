"""The Redis bus alone on a Redis Cluster: shard channels on every master, counted and read."""

from __future__ import annotations

import asyncio

from redis.asyncio.cluster import RedisCluster

from tidings.adapters.redis.bus import RedisBus
from tidings.adapters.redis.messages import Outgoing

from .redis_cluster import (
    OwnRedisCluster,
    redis_cluster_fixture,  # noqa: F401  (fixture)
)
from .test_cluster_bus import Recorder


def channel_per_master(redis: OwnRedisCluster, prefix: str) -> list[str]:
    by_master: dict[int, str] = {}
    for i in range(1000):
        by_master.setdefault(redis.master_of(f"{prefix}-{i}"), f"{prefix}-{i}")
    assert len(by_master) == len(redis.ports)
    return list(by_master.values())


async def test_a_fresh_cluster_client_subscribes_and_every_shard_is_read_at_once(
    redis_cluster: OwnRedisCluster, prefix: str
) -> None:
    """A fresh client knows no slots yet (its pub/sub could not route, and the subscription
    timed out); and a message on one shard used to wait while the reader polled the others,
    up to a second each."""
    recorder = Recorder()
    client = RedisCluster(host="127.0.0.1", port=redis_cluster.ports[0])
    bus = RedisBus(client, recorder)
    channels = channel_per_master(redis_cluster, prefix)
    try:
        await bus.subscribe(channels, sharded=True)
        for channel in channels:
            assert await bus.count_subscribers("SHARDNUMSUB", channel) == 1
            assert sum(redis_cluster.shard_subscribers(channel).values()) == 1
        for round_ in range(2):
            for channel in reversed(channels):
                payload = f"{round_}".encode()
                await bus.send([Outgoing(channel, payload, sharded=True)])
                # Well under the old one-second poll of each other shard.
                assert await asyncio.wait_for(recorder.messages.get(), 0.9) == (channel, payload)
        await bus.unsubscribe(channels[:1], sharded=True)
        await bus.send([Outgoing(channels[0], b"gone", sharded=True), Outgoing(channels[1], b"kept", sharded=True)])
        assert await asyncio.wait_for(recorder.messages.get(), 5) == (channels[1], b"kept")
    finally:
        await bus.close()
        await client.aclose()
