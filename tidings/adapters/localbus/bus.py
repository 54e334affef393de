"""``LocalBus``: a worker's connection to the supervisor's ``BusHub``; a cluster adapter's ``Bus``.

Replies are resolved as soon as their bytes arrive; messages are handed to the receiver
in order by one task, so a receiver that waits for a reply (a server count) never waits
behind itself. A lost connection is made again with backoff and every subscription sent
again, as ``RedisBus`` does; answers in flight fail at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Iterable
from typing import cast

from tidings.adapters.localbus.frames import Frame, FrameError, FrameReader, Op, encode
from tidings.adapters.redis.messages import Outgoing
from tidings.adapters.redis.wire import BusReceiver
from tidings.errors import ClusterError

__all__ = ["LocalBus"]

logger = logging.getLogger("tidings.adapters.localbus")

REPLY_TIMEOUT = 5.0
"""Seconds to wait for the hub to confirm a subscription or answer a count."""
RETRY_FIRST, RETRY_MAX = 0.05, 2.0
"""Backoff between reconnection attempts, seconds."""
HIGH_WATER = 1024 * 1024
"""Bytes written and not yet taken by the hub above which publishers wait."""
MAX_QUEUED = 10_000
"""Messages received and not yet handled above which reading pauses."""


class BusConnection(asyncio.Protocol):
    """The bytes of one connection to the hub; tells its bus what they say."""

    def __init__(self, bus: LocalBus) -> None:
        self.bus = bus
        self.reader = FrameReader()
        self.transport: asyncio.Transport | None = None
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._writable: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses
        self.transport.set_write_buffer_limits(HIGH_WATER)

    def data_received(self, data: bytes) -> None:
        try:
            frames = self.reader.feed(data)
        except FrameError as exc:
            logger.warning("local bus: the hub sent %s; reconnecting", exc)
            if self.transport is not None:
                self.transport.abort()
            return
        for frame in frames:
            self.bus.frame_received(self, frame)

    def pause_writing(self) -> None:
        if self._writable is None:
            self._writable = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)
        self._writable = None

    async def writable(self) -> None:
        """Until the hub has taken what was written (above ``HIGH_WATER``)."""
        if self._writable is not None:
            await asyncio.shield(self._writable)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)
        if not self.lost.done():
            self.lost.set_result(None)


class LocalBus:
    """Publish/subscribe through the hub at unix socket ``path`` (made by ``LocalBusAdapter``)."""

    def __init__(self, path: str, receiver: BusReceiver) -> None:
        self.path = path
        self.receiver = receiver
        self._channels: set[str] = set()
        self._patterns: set[str] = set()
        self._conn: BusConnection | None = None
        self._connected = asyncio.Event()
        self._keeper: asyncio.Task[None] | None = None
        self._next_id = 0
        self._replies: dict[int, asyncio.Future[Frame]] = {}
        self._queue: deque[tuple[str, bytes]] = deque()
        self._wake = asyncio.Event()
        self._dispatcher: asyncio.Task[None] | None = None
        self._closed = False

    # -- what the adapter calls -------------------------------------------------------------

    async def send(self, outgoing: Iterable[Outgoing]) -> None:
        conn = await self._connection()
        for out in outgoing:
            if out.fields or out.sharded:
                raise ClusterError("the local bus carries plain publishes only (classic format)")
            assert conn.transport is not None
            conn.transport.write(encode(Op.PUBLISH, out.channel, out.payload))
        await conn.writable()

    async def count_subscribers(self, command: str, channel: str) -> int:
        if command != "NUMSUB":
            raise ClusterError(f"the local bus has no {command}")
        reply = await self._request(Op.NUMSUB, channel)
        return reply.count

    async def subscribe(
        self, channels: Iterable[str] = (), patterns: Iterable[str] = (), sharded: bool = False
    ) -> None:
        if sharded:
            raise ClusterError("the local bus has no sharded channels (classic format)")
        channels = [c for c in channels if c not in self._channels]
        patterns = [p for p in patterns if p not in self._patterns]
        self._channels.update(channels)
        self._patterns.update(patterns)
        requests = [(Op.SUBSCRIBE, c) for c in channels] + [(Op.PSUBSCRIBE, p) for p in patterns]
        if requests:
            await asyncio.gather(*(self._request(op, name) for op, name in requests))

    async def unsubscribe(
        self, channels: Iterable[str] = (), patterns: Iterable[str] = (), sharded: bool = False
    ) -> None:
        channels = [c for c in channels if c in self._channels]
        patterns = [p for p in patterns if p in self._patterns]
        self._channels.difference_update(channels)
        self._patterns.difference_update(patterns)
        conn = self._conn
        if conn is None or conn.transport is None or not self._connected.is_set():
            return
        for op, names in ((Op.UNSUBSCRIBE, channels), (Op.PUNSUBSCRIBE, patterns)):
            for name in names:
                conn.transport.write(encode(op, name))  # replies are not waited for

    async def read_stream(self, key: str) -> None:
        raise ClusterError("the local bus has no streams (classic format)")

    async def close(self) -> None:
        self._closed = True
        tasks = [t for t in (self._keeper, self._dispatcher) if t is not None]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
        self._keeper = self._dispatcher = None
        if self._conn is not None and self._conn.transport is not None:
            self._conn.transport.close()
        self._conn = None
        self._connected.clear()
        self._fail_replies(ClusterError("the local bus was closed"))

    # -- the connection -------------------------------------------------------------------

    async def _connection(self) -> BusConnection:
        if self._closed:
            raise ClusterError("the local bus was closed")
        if self._keeper is None:
            self._keeper = asyncio.create_task(self._keep_connected(), name="tidings-localbus")
            self._dispatcher = asyncio.create_task(self._dispatch(), name="tidings-localbus-in")
        if not self._connected.is_set():
            try:
                await asyncio.wait_for(self._connected.wait(), REPLY_TIMEOUT)
            except TimeoutError:
                raise ClusterError(f"cannot reach the local bus at {self.path}") from None
        assert self._conn is not None
        return self._conn

    async def _keep_connected(self) -> None:
        """Connect, subscribe everything again, wait for the end; again, with backoff."""
        loop = asyncio.get_running_loop()
        delay = RETRY_FIRST
        while True:
            try:
                _, conn = await loop.create_unix_connection(lambda: BusConnection(self), self.path)
            except OSError as exc:
                logger.debug("local bus at %s not reachable (%r)", self.path, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX)
                continue
            self._conn = conn
            assert conn.transport is not None
            for name in sorted(self._channels):
                conn.transport.write(encode(Op.SUBSCRIBE, name))
            for name in sorted(self._patterns):
                conn.transport.write(encode(Op.PSUBSCRIBE, name))
            self._connected.set()
            delay = RETRY_FIRST
            await conn.lost
            self._connected.clear()
            self._conn = None
            error = ClusterError("connection to the local bus lost")
            self._fail_replies(error)
            logger.warning("local bus connection lost; reconnecting")
            self.receiver.connection_lost(error)

    async def _request(self, op: Op, name: str) -> Frame:
        conn = await self._connection()
        self._next_id = request_id = (self._next_id + 1) & 0xFFFFFFFF
        future: asyncio.Future[Frame] = asyncio.get_running_loop().create_future()
        self._replies[request_id] = future
        assert conn.transport is not None
        conn.transport.write(encode(op, name, request_id=request_id))
        try:
            return await asyncio.wait_for(future, REPLY_TIMEOUT)
        except TimeoutError:
            raise ClusterError(f"the local bus did not answer {op.name} {name}") from None
        finally:
            self._replies.pop(request_id, None)

    def _fail_replies(self, error: Exception) -> None:
        replies, self._replies = self._replies, {}
        for future in replies.values():
            if not future.done():
                future.set_exception(error)

    # -- what comes in ----------------------------------------------------------------------

    def frame_received(self, conn: BusConnection, frame: Frame) -> None:
        """One frame from the hub (called by the connection)."""
        if frame.op is Op.MESSAGE:
            self._queue.append((frame.channel, frame.payload))
            self._wake.set()
            if len(self._queue) > MAX_QUEUED and conn.transport is not None:
                conn.transport.pause_reading()
        elif frame.op is Op.REPLY:
            future = self._replies.get(frame.request_id)
            if future is not None and not future.done():
                future.set_result(frame)

    async def _dispatch(self) -> None:
        """Hand messages to the receiver, in the order they came."""
        queue = self._queue
        received = self.receiver.message_received
        while True:
            await self._wake.wait()
            self._wake.clear()
            while queue:
                channel, payload = queue.popleft()
                try:
                    await received(channel, payload)
                except Exception:
                    logger.exception("local bus: a message on %s failed", channel)
            conn = self._conn
            if conn is not None and conn.transport is not None:
                with contextlib.suppress(RuntimeError):
                    conn.transport.resume_reading()
