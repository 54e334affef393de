"""``BusHub``: the publish/subscribe relay the supervisor of ``tidings serve --workers`` hosts.

Each worker's ``LocalBus`` connects to it over a unix socket. A publish is framed once and
the same bytes are written to every other subscriber of its channel (or of a pattern that
matches it); the publisher never gets its own echo back. ``NUMSUB`` counts the subscribers
of one channel, which is how a cluster adapter counts its servers. A subscriber that does
not read is dropped past ``max_buffered`` bytes, as Redis drops a slow pub/sub client; its
bus reconnects and subscribes again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
from fnmatch import translate
from typing import cast

from tidings.adapters.localbus.frames import (
    Frame,
    FrameError,
    FrameReader,
    Op,
    encode,
    encode_count,
)

__all__ = ["BusHub"]

logger = logging.getLogger("tidings.workers")

MAX_BUFFERED = 64 * 1024 * 1024
"""Bytes queued for one subscriber that does not read before it is dropped."""


class HubConnection(asyncio.Protocol):
    """One worker's connection to the hub."""

    def __init__(self, hub: BusHub) -> None:
        self.hub = hub
        self.reader = FrameReader()
        self.transport: asyncio.Transport | None = None
        self.channels: set[str] = set()
        self.patterns: set[str] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses
        self.hub.connections.add(self)

    def data_received(self, data: bytes) -> None:
        try:
            frames = self.reader.feed(data)
        except FrameError as exc:
            logger.warning("local bus: closing a connection that sent %s", exc)
            self.drop()
            return
        for frame in frames:
            self.hub.handle(self, frame)

    def write(self, data: bytes) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if transport.get_write_buffer_size() > self.hub.max_buffered:
            logger.warning("local bus: a worker does not read its messages; dropping its connection")
            self.drop()
            return
        transport.write(data)

    def drop(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self.hub.forget(self)
        self.transport = None


class BusHub:
    """Listens on the unix socket ``path`` and relays between the buses connected to it."""

    def __init__(self, path: str, *, max_buffered: int = MAX_BUFFERED) -> None:
        self.path = path
        self.max_buffered = max_buffered
        self.connections: set[HubConnection] = set()
        self._channels: dict[str, set[HubConnection]] = {}
        self._patterns: dict[str, tuple[re.Pattern[str], set[HubConnection]]] = {}
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_unix_server(lambda: HubConnection(self), self.path)

    async def close(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for conn in list(self.connections):
            conn.drop()
        await self._server.wait_closed()
        self._server = None
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    def handle(self, conn: HubConnection, frame: Frame) -> None:
        """One frame from a worker (called by its connection)."""
        op = frame.op
        name = frame.channel
        if op is Op.PUBLISH:
            self.publish(conn, name, frame.payload)
            return
        if op is Op.SUBSCRIBE:
            conn.channels.add(name)
            self._channels.setdefault(name, set()).add(conn)
        elif op is Op.PSUBSCRIBE:
            conn.patterns.add(name)
            entry = self._patterns.get(name)
            if entry is None:
                entry = self._patterns[name] = (re.compile(translate(name)), set())
            entry[1].add(conn)
        elif op is Op.UNSUBSCRIBE:
            conn.channels.discard(name)
            self._unsubscribe(conn, name)
        elif op is Op.PUNSUBSCRIBE:
            conn.patterns.discard(name)
            self._punsubscribe(conn, name)
        elif op is Op.NUMSUB:
            conn.write(encode_count(frame.request_id, len(self._channels.get(name, ()))))
            return
        else:
            logger.warning("local bus: unexpected %s from a worker", op.name)
            return
        conn.write(encode(Op.REPLY, request_id=frame.request_id))

    def publish(self, sender: HubConnection, channel: str, payload: bytes) -> None:
        """Write one MESSAGE frame, made once, to every other subscriber."""
        targets = set(self._channels.get(channel, ()))
        for pattern, subscribers in self._patterns.values():
            if pattern.match(channel):
                targets.update(subscribers)
        targets.discard(sender)
        if not targets:
            return
        frame = encode(Op.MESSAGE, channel, payload)
        for conn in targets:
            conn.write(frame)

    def forget(self, conn: HubConnection) -> None:
        """A worker went: its subscriptions go with it (called by its connection)."""
        self.connections.discard(conn)
        for name in conn.channels:
            self._unsubscribe(conn, name)
        for name in conn.patterns:
            self._punsubscribe(conn, name)
        conn.channels.clear()
        conn.patterns.clear()

    def _unsubscribe(self, conn: HubConnection, name: str) -> None:
        subscribers = self._channels.get(name)
        if subscribers is not None:
            subscribers.discard(conn)
            if not subscribers:
                del self._channels[name]

    def _punsubscribe(self, conn: HubConnection, name: str) -> None:
        entry = self._patterns.get(name)
        if entry is not None:
            entry[1].discard(conn)
            if not entry[1]:
                del self._patterns[name]
