"""The Redis bus alone: subscriptions confirmed, counting, and surviving a Redis restart."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis

from tidings.adapters.redis.bus import RedisBus
from tidings.adapters.redis.messages import Outgoing
from tidings.errors import ClusterError

from .conftest import SHARED_REDIS, OwnRedis


class Recorder:
    def __init__(self) -> None:
        self.messages: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
        self.entries: asyncio.Queue[tuple[str, str, dict[bytes, bytes]]] = asyncio.Queue()
        self.lost = asyncio.Event()

    async def message_received(self, channel: str, payload: bytes) -> None:
        await self.messages.put((channel, payload))

    async def entry_received(self, stream: str, entry_id: str, fields: dict[bytes, bytes]) -> None:
        await self.entries.put((stream, entry_id, fields))

    def connection_lost(self, error: BaseException) -> None:
        self.lost.set()


async def next_message(recorder: Recorder) -> tuple[str, bytes]:
    return await asyncio.wait_for(recorder.messages.get(), 5)


async def test_subscribe_publish_count_and_patterns(prefix: str) -> None:
    recorder = Recorder()
    bus = RedisBus(aioredis.Redis.from_url(SHARED_REDIS), recorder)
    try:
        await bus.subscribe([f"{prefix}-a"], [f"{prefix}#*"])
        assert await bus.count_subscribers("NUMSUB", f"{prefix}-a") == 1
        assert await bus.count_subscribers("NUMSUB", f"{prefix}#x") == 0  # patterns are not counted
        await bus.send([Outgoing(f"{prefix}-a", b"\x00one"), Outgoing(f"{prefix}#room#", b"two")])
        assert await next_message(recorder) == (f"{prefix}-a", b"\x00one")
        assert await next_message(recorder) == (f"{prefix}#room#", b"two")
        await bus.subscribe([f"{prefix}-s"], sharded=True)
        assert await bus.count_subscribers("SHARDNUMSUB", f"{prefix}-s") == 1
        await bus.send([Outgoing(f"{prefix}-s", b"three", sharded=True)])
        assert await next_message(recorder) == (f"{prefix}-s", b"three")
        await bus.unsubscribe([f"{prefix}-a"])
        await bus.send([Outgoing(f"{prefix}-a", b"lost"), Outgoing(f"{prefix}-s", b"four", sharded=True)])
        assert await next_message(recorder) == (f"{prefix}-s", b"four")
    finally:
        await bus.close()
        await bus.client.aclose()


async def test_stream_reader_sees_entries_added_after_it_started(prefix: str) -> None:
    recorder = Recorder()
    client = aioredis.Redis.from_url(SHARED_REDIS)
    bus = RedisBus(client, recorder, max_len=100)
    try:
        await client.xadd(prefix, {"old": "1"})
        await bus.read_stream(prefix)
        await bus.send([Outgoing(prefix, fields=(("uid", "u"), ("nsp", "/"), ("type", "3")))])
        stream, _entry_id, fields = await asyncio.wait_for(recorder.entries.get(), 5)
        assert stream == prefix
        assert list(fields.items()) == [(b"uid", b"u"), (b"nsp", b"/"), (b"type", b"3")]
    finally:
        await bus.close()
        await client.delete(prefix)
        await client.aclose()


async def test_restart_reports_loss_fails_publishes_and_resubscribes(own_redis: OwnRedis) -> None:
    recorder = Recorder()
    client = aioredis.Redis.from_url(own_redis.url)
    bus = RedisBus(client, recorder)
    try:
        await bus.subscribe(["chan"], ["pat#*"])
        await own_redis.kill()
        await asyncio.wait_for(recorder.lost.wait(), 5)
        with pytest.raises(ClusterError):
            await bus.send([Outgoing("chan", b"while down")])
        await own_redis.start()
        # The bus resubscribes by itself: once Redis counts it again, messages flow.
        for _ in range(200):
            try:
                if await bus.count_subscribers("NUMSUB", "chan") == 1:
                    break
            except ClusterError:
                pass
            await asyncio.sleep(0.05)
        await bus.send([Outgoing("chan", b"after"), Outgoing("pat#x#", b"pattern after")])
        assert await next_message(recorder) == ("chan", b"after")
        assert await next_message(recorder) == ("pat#x#", b"pattern after")
    finally:
        await bus.close()
        await client.aclose()
