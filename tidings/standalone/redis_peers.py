"""``RedisPeerDirectory``: where each node of a cluster listens, kept in Redis.

Each node's entry is the key ``{prefix}#nodes#{owner}`` holding
``{"host": ..., "port": ...}`` (JSON), set with a TTL and refreshed by a
heartbeat, so the entry of a node that died without withdrawing disappears on
its own after ``ttl`` seconds; ``close`` deletes the entries this directory
published.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import orjson

try:
    import redis.asyncio as aioredis
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise ImportError(
        "RedisPeerDirectory needs redis-py: pip install 'tidings[redis]'"
    ) from exc

from tidings.engine.owner import check_owner

logger = logging.getLogger("tidings.standalone")

__all__ = ["RedisPeerDirectory"]


class RedisPeerDirectory:
    """A ``PeerDirectory`` in Redis: give it a URL (its client is made on first use, in
    the loop that serves) or a ``redis.asyncio.Redis`` client (which stays the caller's)."""

    def __init__(
        self,
        redis: str | aioredis.Redis,
        key_prefix: str = "tidings",
        *,
        ttl: float = 15.0,
    ) -> None:
        if not ttl > 0:
            raise ValueError("ttl must be positive")
        self._url = redis if isinstance(redis, str) else None
        self._client: aioredis.Redis | None = None if isinstance(redis, str) else redis
        self.key_prefix = key_prefix
        self.ttl = ttl
        self._published: dict[str, bytes] = {}
        self._heartbeat: asyncio.Task[None] | None = None

    def key(self, owner: str) -> str:
        """The Redis key of ``owner``'s entry."""
        return f"{self.key_prefix}#nodes#{owner}"

    def _redis(self) -> aioredis.Redis:
        client = self._client
        if client is None:
            assert self._url is not None
            client = self._client = aioredis.Redis.from_url(self._url)
        return client

    async def address_of(self, owner: str) -> tuple[str, int] | None:
        raw = await self._redis().get(self.key(owner))
        if raw is None:
            return None
        try:
            entry: Any = orjson.loads(raw)
            return str(entry["host"]), int(entry["port"])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            logger.warning("peer directory: unreadable entry for %s: %r", owner, raw)
            return None

    async def publish(self, owner: str, host: str, port: int) -> None:
        check_owner(owner)
        value = orjson.dumps({"host": host, "port": port})
        self._published[owner] = value
        await self._redis().set(self.key(owner), value, px=int(self.ttl * 1000))
        if self._heartbeat is None:
            self._heartbeat = asyncio.get_running_loop().create_task(self._beat())

    async def _beat(self) -> None:
        """Set every published entry again, with its TTL, three times per TTL."""
        interval = self.ttl / 3
        while True:
            await asyncio.sleep(interval)
            try:
                async with self._redis().pipeline(transaction=False) as pipe:
                    for owner, value in self._published.items():
                        pipe.set(self.key(owner), value, px=int(self.ttl * 1000))
                    await pipe.execute()
            except Exception as exc:
                logger.warning("peer directory: heartbeat failed: %r", exc)

    async def close(self) -> None:
        heartbeat = self._heartbeat
        self._heartbeat = None
        if heartbeat is not None:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
        published = list(self._published)
        self._published.clear()
        client = self._client
        if client is None:
            return
        try:
            if published:
                await client.delete(*(self.key(owner) for owner in published))
        finally:
            if self._url is not None:
                self._client = None
                await client.aclose()
