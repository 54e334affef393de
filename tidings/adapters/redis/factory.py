"""``RedisAdapter``: the adapter factory a server is given; one per server, shared by its namespaces.

A ``ClusterLink`` over Redis: it holds the Redis connections (through ``RedisBus``) and the
wire format; the link makes each namespace's ``ClusterAdapter`` and routes what comes in.
"""

from __future__ import annotations

import redis.asyncio as aioredis

from tidings.adapters.redis.bus import RedisBus, RedisClient
from tidings.adapters.redis.classic import ClassicFormat
from tidings.adapters.redis.link import ClusterLink
from tidings.adapters.redis.sharded import ShardedFormat, SubscriptionMode
from tidings.adapters.redis.streams import StreamsFormat
from tidings.adapters.redis.wire import WireFormat

__all__ = ["RedisAdapter", "make_format"]

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
        return ClassicFormat(prefix=key_prefix)
    if name == "sharded":
        return ShardedFormat(prefix=key_prefix, subscription_mode=subscription_mode)
    if name == "streams":
        return StreamsFormat(
            prefix=key_prefix, stream_name=stream_name, max_len=max_len, stream_count=stream_count
        )
    raise ValueError(f"unknown Redis format {name!r}: 'classic', 'sharded' or 'streams'")


class RedisAdapter(ClusterLink):
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
        wire = (
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
        super().__init__(wire, requests_timeout)
        client: RedisClient = aioredis.Redis.from_url(redis) if isinstance(redis, str) else redis
        self.bus: RedisBus = RedisBus(client, self, max_len=max_len)

    def __repr__(self) -> str:
        return f"<RedisAdapter {self.wire.name}>"
