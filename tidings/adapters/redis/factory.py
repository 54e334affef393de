"""``RedisAdapter``: the adapter factory a server is given; one per server, shared by its namespaces.

It holds the Redis connections (through ``RedisBus``) and the wire format, makes each
namespace's ``ClusterAdapter``, and routes every message that comes in, decoded once,
to the adapter of its namespace.
"""

from __future__ import annotations

import logging
import secrets
import time

import redis.asyncio as aioredis

from tidings.adapters.base import LocalNamespace
from tidings.adapters.redis.adapter import ClusterAdapter
from tidings.adapters.redis.bus import RedisBus, RedisClient
from tidings.adapters.redis.classic import ClassicFormat
from tidings.adapters.redis.messages import ClusterMessage, WireError
from tidings.adapters.redis.rooms import RoomChannelsAdapter
from tidings.adapters.redis.sharded import ShardedFormat, SubscriptionMode
from tidings.adapters.redis.streams import StreamsFormat
from tidings.adapters.redis.wire import WireFormat

__all__ = ["RedisAdapter", "make_format"]

logger = logging.getLogger("tidings.adapters.redis")

DROP_LOG_INTERVAL = 10.0
"""Seconds between two log lines about dropped messages (a flood logs once per interval)."""


def make_format(
    name: str,
    *,
    key_prefix: str = "socket.io",
    subscription_mode: SubscriptionMode = "dynamic",
    stream_name: str = "socket.io",
    max_len: int = 10_000,
    stream_count: int = 1,
) -> WireFormat:
    """The wire format called ``name``, with its options."""
    if name == "classic":
        # ClassicFormat has no stream entries, hence no ``decode_entry``: never called for it.
        return ClassicFormat(prefix=key_prefix)  # type: ignore[return-value]
    if name == "sharded":
        return ShardedFormat(prefix=key_prefix, subscription_mode=subscription_mode)
    if name == "streams":
        return StreamsFormat(
            prefix=key_prefix, stream_name=stream_name, max_len=max_len, stream_count=stream_count
        )
    raise ValueError(f"unknown Redis format {name!r}: 'classic', 'sharded' or 'streams'")


class RedisAdapter:
    """Makes the adapters of a server's namespaces in a Redis cluster (``adapter_factory``)."""

    def __init__(
        self,
        redis: str | RedisClient = "redis://127.0.0.1:6379/0",
        *,
        format: str | WireFormat = "classic",
        key_prefix: str = "socket.io",
        requests_timeout: float = 5.0,
        subscription_mode: SubscriptionMode = "dynamic",
        stream_name: str = "socket.io",
        max_len: int = 10_000,
        stream_count: int = 1,
    ) -> None:
        if subscription_mode not in ("static", "dynamic", "dynamic-private"):
            raise ValueError(f"unknown subscription_mode {subscription_mode!r}")
        if requests_timeout <= 0:
            raise ValueError("requests_timeout must be positive")
        client: RedisClient = aioredis.Redis.from_url(redis) if isinstance(redis, str) else redis
        self.wire: WireFormat = (
            make_format(
                format,
                key_prefix=key_prefix,
                subscription_mode=subscription_mode,
                stream_name=stream_name,
                max_len=max_len,
                stream_count=stream_count,
            )
            if isinstance(format, str)
            else format
        )
        self.requests_timeout = requests_timeout
        self.bus = RedisBus(client, self, max_len=max_len)
        self.adapters: dict[str, ClusterAdapter] = {}
        """The adapter of each namespace of this server, by name."""
        self._hex_ids = self.wire.name != "classic"
        self._dropped = 0
        self._drop_logged_at = 0.0

    def __call__(self, nsp: LocalNamespace) -> ClusterAdapter:
        kind = RoomChannelsAdapter if self.wire.room_channel(nsp.name, "room") is not None else ClusterAdapter
        adapter = kind(nsp, self)
        self.adapters[nsp.name] = adapter
        return adapter

    def new_id(self) -> str:
        """16 hex chars (sharded, streams) or 6 of ``A-Za-z0-9-_`` (classic), as Node's (called
        by adapters)."""
        return secrets.token_hex(8) if self._hex_ids else secrets.token_urlsafe(6)[:6]

    async def adapter_closed(self, adapter: ClusterAdapter) -> None:
        """A namespace left the cluster; the last one closes the connections (called by adapters)."""
        if self.adapters.get(adapter.nsp.name) is adapter:
            del self.adapters[adapter.nsp.name]
        if not self.adapters:
            await self.bus.close()

    async def close(self) -> None:
        """Drop the Redis connections (the server's shutdown closed every adapter first)."""
        await self.bus.close()

    # -- what the bus receives (called by ``RedisBus``) -------------------------------------

    async def message_received(self, channel: str, payload: bytes) -> None:
        try:
            message = self.wire.decode(channel, payload)
        except (WireError, ValueError, TypeError, KeyError) as exc:
            self._drop(f"on {channel}: {exc!r}")
            return
        if message is not None:
            await self._dispatch(message)

    async def entry_received(self, stream: str, entry_id: str, fields: dict[bytes, bytes]) -> None:
        try:
            message = self.wire.decode_entry(stream, fields)
        except (WireError, ValueError, TypeError, KeyError) as exc:
            self._drop(f"in stream {stream} entry {entry_id}: {exc!r}")
            return
        if message is not None:
            await self._dispatch(message)

    def connection_lost(self, error: BaseException) -> None:
        for adapter in list(self.adapters.values()):
            adapter.connection_lost(error)

    async def _dispatch(self, message: ClusterMessage) -> None:
        adapter = self.adapters.get(message.nsp)
        if adapter is None:
            return
        try:
            await adapter.receive(message)
        except Exception:
            logger.exception("namespace %s: failed to handle %s", message.nsp, type(message).__name__)

    def _drop(self, what: str) -> None:
        self._dropped += 1
        now = time.monotonic()
        if now - self._drop_logged_at >= DROP_LOG_INTERVAL:
            logger.warning("dropped %d malformed or foreign message(s); last %s", self._dropped, what)
            self._dropped = 0
            self._drop_logged_at = now

    def __repr__(self) -> str:
        return f"<RedisAdapter {self.wire.name}>"
