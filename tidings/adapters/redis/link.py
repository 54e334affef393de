"""``ClusterLink``: a server's side of a cluster, whatever carries the bytes.

One per server, shared by its namespaces: it holds the wire format and a ``Bus``, makes
each namespace's ``ClusterAdapter``, and routes every message that comes in, decoded
once, to the adapter of its namespace. ``RedisAdapter`` links over Redis,
``LocalBusAdapter`` over the hub of ``tidings serve --workers``.
"""

from __future__ import annotations

import logging
import secrets
import time

from tidings.adapters.base import LocalNamespace
from tidings.adapters.redis.adapter import ClusterAdapter
from tidings.adapters.redis.messages import ClusterMessage, WireError
from tidings.adapters.redis.rooms import RoomChannelsAdapter
from tidings.adapters.redis.wire import Bus, WireFormat

__all__ = ["ClusterLink"]

logger = logging.getLogger("tidings.adapters.redis")

DROP_LOG_INTERVAL = 10.0
"""Seconds between two log lines about dropped messages (a flood logs once per interval)."""


class ClusterLink:
    """Makes the adapters of a server's namespaces (``adapter_factory``); a subclass sets ``bus``."""

    bus: Bus

    def __init__(self, wire: WireFormat, requests_timeout: float) -> None:
        if requests_timeout <= 0:
            raise ValueError("requests_timeout must be positive")
        self.wire = wire
        self.requests_timeout = requests_timeout
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
        """Drop the connections (the server's shutdown closed every adapter first)."""
        await self.bus.close()

    # -- what the bus receives (called by the bus) ------------------------------------------

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
