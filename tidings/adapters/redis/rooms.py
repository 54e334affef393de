"""The cluster adapter of formats that have a channel per room (sharded, dynamic modes).

A node listens on a room's channel while the room has a local member, so broadcasts to
one room reach only the nodes that have it. A separate class, so the other formats pay
nothing on each join and leave: the room bookkeeping is the in-memory adapter's, and this
only notes which rooms appeared or went, for one background task to (un)subscribe.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from tidings.adapters.base import LocalNamespace
from tidings.adapters.redis.adapter import ClusterAdapter, NodeLink
from tidings.errors import ClusterError
from tidings.ids import Room, Sid

__all__ = ["RoomChannelsAdapter"]

logger = logging.getLogger("tidings.adapters.redis")


class RoomChannelsAdapter(ClusterAdapter):
    """A ``ClusterAdapter`` that follows its local rooms with room channel subscriptions."""

    __slots__ = ("_subscribed", "_sync", "_settled")

    def __init__(self, nsp: LocalNamespace, link: NodeLink) -> None:
        super().__init__(nsp, link)
        self._subscribed: set[str] = set()
        self._sync: asyncio.Task[None] | None = None
        self._settled = asyncio.Event()
        self._settled.set()

    def room_channels(self) -> list[str]:
        return sorted(self._subscribed)

    def _wanted(self) -> set[str]:
        channel = self.link.wire.room_channel
        name = self.nsp.name
        wanted = {channel(name, room) for room in self._rooms}
        wanted.discard(None)
        return wanted  # type: ignore[return-value]

    def _rooms_changed(self) -> None:
        if not self._opened:
            return
        self._settled.clear()
        if self._sync is None or self._sync.done():
            self._sync = asyncio.ensure_future(self._follow_rooms())

    async def _follow_rooms(self) -> None:
        bus = self.link.bus
        try:
            while self._opened:
                wanted = self._wanted()
                new, gone = wanted - self._subscribed, self._subscribed - wanted
                if not new and not gone:
                    break
                if new:
                    await bus.subscribe(sorted(new), (), True)
                    self._subscribed |= new
                if gone:
                    self._subscribed -= gone
                    await bus.unsubscribe(sorted(gone), (), True)
        except ClusterError as exc:
            logger.warning("namespace %s: room channels not followed: %s", self.nsp.name, exc)
        finally:
            self._settled.set()

    async def rooms_subscribed(self) -> None:
        """Return once the room channels match the local rooms (a room joined before this call
        receives what is published to its channel after it)."""
        await self._settled.wait()

    # -- the in-memory bookkeeping, noting rooms that appear or go --------------------------

    def add_all(self, sid: Sid, rooms: Iterable[Room]) -> None:
        rooms = list(rooms)
        known = self._rooms
        fresh = any(room not in known for room in rooms)
        super().add_all(sid, rooms)
        if fresh:
            self._rooms_changed()

    def delete(self, sid: Sid, room: Room) -> None:
        super().delete(sid, room)
        if room not in self._rooms:
            self._rooms_changed()

    def delete_all(self, sid: Sid) -> None:
        before = len(self._rooms)
        super().delete_all(sid)
        if len(self._rooms) != before:
            self._rooms_changed()

    async def open(self) -> None:
        await super().open()
        self._rooms_changed()
        await self.rooms_subscribed()

    async def close(self) -> None:
        if self._sync is not None:
            self._sync.cancel()
        await super().close()
