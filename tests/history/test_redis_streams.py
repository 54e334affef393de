"""What only the Redis streams backend promises: offsets are the stream ids, keys under
the prefix, one winner when two processes race for a session."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis

from tidings.history import LIVE, RedisStreamsHistory, SessionRecord

from .conftest import REDIS_URL, redis_prefix


async def test_offsets_are_the_stream_ids_and_every_key_is_under_the_prefix() -> None:
    async with redis_prefix() as prefix:
        store = RedisStreamsHistory(REDIS_URL, key_prefix=prefix)
        await store.open()
        client = aioredis.Redis.from_url(REDIS_URL)
        try:
            assert await store.append_many([]) == []
            offsets = [await store.append("/chat", "e", b"x", rooms=["r"], now=1.0) for _ in range(3)]
            assert offsets == [1, 2, 3]
            ids = [i for i, _ in await client.xrange(f"{prefix}:ns:/chat:log")]
            assert ids == [b"1-0", b"2-0", b"3-0"]
            await store.save_session(SessionRecord("p", "s", "/chat", (), b"", LIVE, "n1"))
            await store.heartbeat("n1", now=1.0, timeout=3.0)
            keys = {k.decode() async for k in client.scan_iter(match="*", count=10_000)
                    if k.decode().startswith(prefix)}
            assert keys == {
                f"{prefix}:ns:/chat:log", f"{prefix}:ns:/chat:meta", f"{prefix}:namespaces",
                f"{prefix}:session:p", f"{prefix}:sessions", f"{prefix}:node:n1:live",
                f"{prefix}:nodes",
            }
        finally:
            await client.aclose()
            await store.close()


async def test_a_session_raced_for_by_two_stores_is_taken_once() -> None:
    async with redis_prefix() as prefix:
        stores = [RedisStreamsHistory(REDIS_URL, key_prefix=prefix) for _ in range(2)]
        for store in stores:
            await store.open()
        try:
            for i in range(20):
                await stores[0].save_session(SessionRecord(f"p{i}", "s", "/", (), b"", 1.0))
            results = await asyncio.gather(
                *(store.take_session(f"p{i}", max_age=60.0, now=2.0)
                  for i in range(20) for store in stores)
            )
            assert sum(r is not None for r in results) == 20
        finally:
            for store in stores:
                await store.close()


def test_a_prefix_is_needed() -> None:
    with pytest.raises(ValueError):
        RedisStreamsHistory(REDIS_URL, key_prefix="")
