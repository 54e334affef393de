"""A node's Redis connections: commands and publishes, one pub/sub connection, stream readers.

Shared by every namespace of a server (``RedisAdapter`` owns one). It knows nothing of
messages: it moves bytes on channels and stream entries, and tells its receiver what came
in and when the pub/sub connection was lost. Our own pub/sub connection has no silent
retries of redis-py's: a lost connection surfaces here, so requests in flight can fail at
once, and it is re-made with backoff and every subscription sent again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisClusterException, RedisError

from tidings.adapters.redis.messages import Outgoing
from tidings.adapters.redis.wire import BusReceiver
from tidings.errors import ClusterError

__all__ = ["BusReceiver", "RedisBus", "RedisClient"]

logger = logging.getLogger("tidings.adapters.redis")

RedisClient = aioredis.Redis | RedisCluster
SUBSCRIBE_TIMEOUT = 5.0
"""Seconds ``subscribe`` waits for Redis to confirm (then ``ClusterError``)."""
RETRY_FIRST, RETRY_MAX = 0.05, 2.0
"""Backoff between reconnection attempts, seconds."""
REDIS_ERRORS = (RedisError, RedisClusterException, OSError)
"""What a Redis or Redis Cluster client raises when the server is not there or not ready."""
STREAM_BLOCK_MS = 2000
STREAM_COUNT = 100


def _private_client(client: aioredis.Redis) -> aioredis.Redis:
    """A client on the same server whose connections fail fast instead of retrying quietly."""
    pool = client.connection_pool
    kwargs = {**pool.connection_kwargs, "retry": Retry(NoBackoff(), 0), "decode_responses": False}
    kwargs.pop("retry_on_error", None)
    return aioredis.Redis(
        connection_pool=aioredis.ConnectionPool(connection_class=pool.connection_class, **kwargs)
    )


class RedisBus:
    """Bytes in and out of Redis for one server; made by ``RedisAdapter``."""

    def __init__(self, client: RedisClient, receiver: BusReceiver, *, max_len: int = 10_000) -> None:
        self.client = client
        self.receiver = receiver
        self.max_len = max_len
        self.cluster = isinstance(client, RedisCluster)
        self._listen_client: aioredis.Redis | None = None if self.cluster else _private_client(client)  # type: ignore[arg-type]
        self._channels: set[str] = set()
        self._patterns: set[str] = set()
        self._shard_channels: set[str] = set()
        self._pubsub: Any = None
        self._listener: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()
        self._shards_changed = asyncio.Event()
        """Set when a cluster pub/sub may have opened a connection to one more shard."""
        self._confirmations: dict[tuple[str, str], asyncio.Future[None]] = {}
        self._streams: dict[str, asyncio.Task[None]] = {}
        self._epoch = 0
        """Bumped by ``close``: loops of an earlier epoch stop."""

    # -- publishing and counting --------------------------------------------------------

    async def send(self, outgoing: Iterable[Outgoing]) -> None:
        """Put messages on Redis (called by adapters); ``ClusterError`` when Redis is not there."""
        try:
            for out in outgoing:
                if out.fields:
                    await self.client.xadd(
                        out.channel, dict(out.fields), maxlen=self.max_len, approximate=True
                    )
                elif out.sharded:
                    await self.client.execute_command("SPUBLISH", out.channel, out.payload)
                else:
                    await self.client.execute_command("PUBLISH", out.channel, out.payload)
        except REDIS_ERRORS as exc:
            raise ClusterError(f"cannot publish to Redis: {exc}") from exc

    async def count_subscribers(self, command: str, channel: str) -> int:
        """PUBSUB NUMSUB or SHARDNUMSUB of ``channel``, summed over a cluster's masters."""
        try:
            if self.cluster:
                reply = await self.client.execute_command(
                    f"PUBSUB {command}", channel, target_nodes=RedisCluster.PRIMARIES
                )
                replies = reply.values() if isinstance(reply, dict) else [reply]
                return sum(int(n) for r in replies for _, n in r)
            reply = await self.client.execute_command(f"PUBSUB {command}", channel)
            return sum(int(n) for _, n in reply)
        except REDIS_ERRORS as exc:
            raise ClusterError(f"cannot count servers on Redis: {exc}") from exc

    # -- subscriptions --------------------------------------------------------------------

    async def subscribe(
        self, channels: Iterable[str] = (), patterns: Iterable[str] = (), sharded: bool = False
    ) -> None:
        """Listen on these too; returns once Redis confirmed (``ClusterError`` if it does not)."""
        channels = [c for c in channels if c not in (self._shard_channels if sharded else self._channels)]
        patterns = [p for p in patterns if p not in self._patterns]
        (self._shard_channels if sharded else self._channels).update(channels)
        self._patterns.update(patterns)
        if not channels and not patterns:
            return
        kind = "ssubscribe" if sharded else "subscribe"
        waits = [self._expect(kind, c) for c in channels] + [self._expect("psubscribe", p) for p in patterns]
        try:
            if self._listener is None:
                self._listener = asyncio.create_task(self._listen(), name="tidings-redis-pubsub")
            elif self._connected.is_set():
                await self._send_subscriptions(self._pubsub, channels, patterns, sharded)
            await asyncio.wait_for(asyncio.gather(*waits), SUBSCRIBE_TIMEOUT)
        except (TimeoutError, *REDIS_ERRORS) as exc:
            raise ClusterError(f"cannot subscribe on Redis: {exc!r}") from exc
        finally:
            for w in waits:
                if not w.done():
                    w.cancel()

    async def unsubscribe(
        self, channels: Iterable[str] = (), patterns: Iterable[str] = (), sharded: bool = False
    ) -> None:
        """Stop listening on these (best effort: a broken connection drops them anyway)."""
        mine = self._shard_channels if sharded else self._channels
        channels = [c for c in channels if c in mine]
        patterns = [p for p in patterns if p in self._patterns]
        mine.difference_update(channels)
        self._patterns.difference_update(patterns)
        pubsub = self._pubsub
        if pubsub is None or not self._connected.is_set():
            return
        with contextlib.suppress(*REDIS_ERRORS):
            if channels:
                await (pubsub.sunsubscribe(*channels) if sharded else pubsub.unsubscribe(*channels))
            if patterns:
                await pubsub.punsubscribe(*patterns)

    def _expect(self, kind: str, name: str) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._confirmations[(kind, name)] = future
        return future

    async def _send_subscriptions(
        self, pubsub: Any, channels: list[str], patterns: list[str], sharded: bool
    ) -> None:
        if channels:
            await (pubsub.ssubscribe(*channels) if sharded else pubsub.subscribe(*channels))
        if patterns:
            await pubsub.psubscribe(*patterns)
        if self.cluster:
            self._shards_changed.set()

    async def _listen(self) -> None:
        """The one pub/sub loop: (re)connect, (re)subscribe everything, dispatch messages."""
        delay = RETRY_FIRST
        lost = False
        epoch = self._epoch
        while not self._stopping(epoch):
            pubsub: Any = self.client.pubsub() if self.cluster else self._listen_client.pubsub()  # type: ignore[union-attr]
            try:
                if self.cluster:
                    # A cluster client learns its slots on its first command; a pub/sub
                    # needs them before it can pick each shard channel's node.
                    await self.client.initialize()
                await self._send_subscriptions(pubsub, sorted(self._channels), sorted(self._patterns), False)
                await self._send_subscriptions(pubsub, sorted(self._shard_channels), [], True)
                self._pubsub = pubsub
                self._connected.set()
                if lost:
                    logger.warning("Redis pub/sub connection is back; subscriptions sent again")
                    lost = False
                delay = RETRY_FIRST
                await (self._read_shards if self.cluster else self._read)(pubsub, epoch)
            except asyncio.CancelledError:
                raise
            except REDIS_ERRORS as exc:
                if self._stopping(epoch):
                    return
                self._connected.clear()
                self._pubsub = None
                if not lost:
                    logger.warning("Redis pub/sub connection lost (%r); reconnecting", exc)
                    lost = True
                    self.receiver.connection_lost(exc)
            finally:
                if self._pubsub is None or self._stopping(epoch):
                    with contextlib.suppress(Exception):
                        await pubsub.aclose()
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX)

    async def _read_shards(self, pubsub: Any, epoch: int) -> None:
        """A cluster pub/sub holds one connection per shard (and one for plain channels);
        read each with its own task.

        redis-py's ``get_sharded_message`` polls the shards in turn, each up to its timeout,
        so a message on one shard would wait for the others' timeouts to run out."""
        readers: dict[int, asyncio.Task[None]] = {}
        failed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def reader_done(task: asyncio.Task[None]) -> None:
            if not task.cancelled() and not failed.done():
                error = task.exception()
                failed.set_result(None) if error is None else failed.set_exception(error)

        try:
            while not self._stopping(epoch):
                self._shards_changed.clear()
                plain = [pubsub] if self._channels or self._patterns else []  # PUBLISH is cluster-wide
                for shard in [*plain, *pubsub.node_pubsub_mapping.values()]:
                    if id(shard) not in readers:
                        task = asyncio.create_task(self._read(shard, epoch), name="tidings-redis-shard")
                        task.add_done_callback(reader_done)
                        readers[id(shard)] = task
                changed = asyncio.ensure_future(self._shards_changed.wait())
                try:
                    await asyncio.wait((failed, changed), return_when=asyncio.FIRST_COMPLETED)
                finally:
                    changed.cancel()
                if failed.done():
                    failed.result()  # a reader's error, or it saw the end
                    return
        finally:
            for task in readers.values():
                task.cancel()
            if readers:
                await asyncio.wait(readers.values())

    async def _read(self, pubsub: Any, epoch: int) -> None:
        received = self.receiver.message_received
        confirmations = self._confirmations
        while not self._stopping(epoch):
            msg = await pubsub.get_message(timeout=None)
            if msg is None:
                continue
            kind = msg["type"]
            if kind in ("message", "smessage", "pmessage"):
                channel = msg["channel"]
                await received(channel.decode() if isinstance(channel, bytes) else channel, msg["data"])
            elif kind in ("subscribe", "psubscribe", "ssubscribe"):
                name = msg["channel"]
                future = confirmations.pop((kind, name.decode() if isinstance(name, bytes) else name), None)
                if future is not None and not future.done():
                    future.set_result(None)

    def _stopping(self, epoch: int) -> bool:
        """Whether a loop started in ``epoch`` must end (redis-py may absorb a cancellation)."""
        task = asyncio.current_task()
        return epoch != self._epoch or (task is not None and task.cancelling() > 0)

    # -- streams --------------------------------------------------------------------------

    async def read_stream(self, key: str) -> None:
        """Start reading entries added to ``key`` from now on (one reader per key)."""
        if key in self._streams:
            return
        try:
            last = await self.client.xrevrange(key, count=1)
        except REDIS_ERRORS as exc:
            raise ClusterError(f"cannot read stream {key!r} on Redis: {exc}") from exc
        start = "0-0"
        if last:
            newest = last[0][0]
            start = newest.decode() if isinstance(newest, bytes) else str(newest)
        self._streams[key] = asyncio.create_task(self._read_stream(key, start), name="tidings-redis-xread")

    async def _read_stream(self, key: str, last_id: str) -> None:
        client: Any = self.client if self.cluster else self._listen_client
        delay = RETRY_FIRST
        epoch = self._epoch
        while not self._stopping(epoch):
            try:
                reply = await client.xread({key: last_id}, count=STREAM_COUNT, block=STREAM_BLOCK_MS)
                delay = RETRY_FIRST
            except asyncio.CancelledError:
                raise
            except REDIS_ERRORS as exc:
                if self._stopping(epoch):
                    return
                logger.warning("reading stream %s failed (%r); retrying", key, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX)
                continue
            for _stream, entries in reply or ():
                for entry_id, fields in entries:
                    last_id = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
                    await self.receiver.entry_received(key, last_id, fields)

    # -- the end --------------------------------------------------------------------------

    async def close(self) -> None:
        """Cancel the listener and readers and drop the connections (called by ``RedisAdapter``)."""
        self._epoch += 1
        tasks = [t for t in (self._listener, *self._streams.values()) if t is not None]
        for task in tasks:
            task.cancel()
        if tasks:
            # redis-py may absorb a cancellation mid-read; the loops then see the new epoch.
            await asyncio.wait(tasks, timeout=STREAM_BLOCK_MS / 1000 + 1)
        self._listener = None
        self._streams.clear()
        if self._pubsub is not None:
            with contextlib.suppress(Exception):
                await self._pubsub.aclose()
            self._pubsub = None
        if self._listen_client is not None:
            with contextlib.suppress(Exception):
                await self._listen_client.connection_pool.disconnect()
        self._connected.clear()
        self._confirmations.clear()
