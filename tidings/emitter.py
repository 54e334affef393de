"""Emit to a Socket.IO cluster from a process that is not a server.

Speaks what ``@socket.io/redis-emitter`` 5.1 puts on Redis (the classic format): broadcasts with
uid ``emitter``, socketsJoin/socketsLeave/disconnectSockets requests without a uid, and
server-side emits with uid ``emitter`` and never a request id (nobody answers an emitter).
Every node of the cluster, Node or tidings, on the classic format with the same key prefix
receives them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import Any, Self

try:
    from redis.asyncio import Redis
    from redis.exceptions import RedisError
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise ImportError("tidings.Emitter needs redis-py: pip install 'tidings[redis]'") from exc

from tidings.adapters.redis.classic import EMITTER_UID, ClassicFormat
from tidings.adapters.redis.messages import (
    Broadcast,
    ClusterMessage,
    DisconnectSockets,
    Room,
    ServerSideEmit,
    SocketsJoin,
    SocketsLeave,
    Target,
)
from tidings.errors import ClusterError
from tidings.protocol.socketio import RESERVED_EVENTS

__all__ = ["Emitter", "EmitterOperator"]


def _rooms(room: Room | Iterable[Room]) -> tuple[Room, ...]:
    if isinstance(room, str | int):
        return (room,)
    return tuple(room)


def _merged(existing: tuple[Room, ...], added: tuple[Room, ...]) -> tuple[Room, ...]:
    # A JS Set: insertion order, each room once.
    return tuple(dict.fromkeys(existing + added))


def _refuse_acks(args: Sequence[Any]) -> None:
    if args and callable(args[-1]):
        raise ValueError("an emitter cannot receive acknowledgements")


@dataclass(frozen=True, slots=True)
class _Link:
    # What every operator of one emitter shares: the client and the codec.
    redis: Redis
    wire: ClassicFormat


async def _publish(link: _Link, message: ClusterMessage) -> None:
    try:
        for item in link.wire.encode(message):
            await link.redis.publish(item.channel, item.payload)
    except (RedisError, OSError) as exc:
        raise ClusterError(f"could not publish to Redis: {exc}") from exc


@dataclass(frozen=True, slots=True)
class EmitterOperator:
    """Rooms, exceptions and flags chosen so far; each method returns a new operator."""

    link: _Link
    nsp: str
    rooms: tuple[Room, ...] = ()
    except_rooms: tuple[Room, ...] = ()
    flags: dict[str, Any] = field(default_factory=dict)

    def to(self, room: Room | Iterable[Room]) -> EmitterOperator:
        """Only sockets in these rooms (a union with the rooms chosen before)."""
        return replace(self, rooms=_merged(self.rooms, _rooms(room)))

    def in_(self, room: Room | Iterable[Room]) -> EmitterOperator:
        """Same as ``to``."""
        return self.to(room)

    def except_(self, room: Room | Iterable[Room]) -> EmitterOperator:
        """Leave out sockets in these rooms (a socket id is a room)."""
        return replace(self, except_rooms=_merged(self.except_rooms, _rooms(room)))

    @property
    def volatile(self) -> EmitterOperator:
        """Sockets that cannot take the packet right now miss it."""
        return replace(self, flags={**self.flags, "volatile": True})

    def compress(self, compress: bool) -> EmitterOperator:
        return replace(self, flags={**self.flags, "compress": compress})

    def _target(self) -> Target:
        return Target(self.rooms, self.except_rooms, self.flags)

    async def emit(self, event: str, *args: Any) -> None:
        """Send ``event`` to the selected sockets of every node; raises ``ClusterError`` when
        Redis did not take it."""
        if event in RESERVED_EVENTS:
            raise ValueError(f"{event!r} is a reserved event name")
        _refuse_acks(args)
        await _publish(self.link, Broadcast(EMITTER_UID, self.nsp, [event, *args], self._target()))

    async def sockets_join(self, rooms: Room | Iterable[Room]) -> None:
        """Make the selected sockets join ``rooms`` on every node."""
        await _publish(self.link, SocketsJoin(None, self.nsp, self._target(), _rooms(rooms)))

    async def sockets_leave(self, rooms: Room | Iterable[Room]) -> None:
        """Make the selected sockets leave ``rooms`` on every node."""
        await _publish(self.link, SocketsLeave(None, self.nsp, self._target(), _rooms(rooms)))

    async def disconnect_sockets(self, close: bool = False) -> None:
        """Disconnect the selected sockets on every node (``close``: close the connection too)."""
        await _publish(self.link, DisconnectSockets(None, self.nsp, self._target(), close))


class Emitter:
    """``Emitter(url_or_client, key_prefix="socket.io")``: a URL makes (and ``close`` closes) its
    own redis-py client; a client passed in stays the caller's. ``nsp``: the namespace, as
    ``of(nsp)`` gives it."""

    __slots__ = ("_key_prefix", "_owns_client", "_root")

    def __init__(self, redis: str | Redis, key_prefix: str = "socket.io", nsp: str = "/") -> None:
        if isinstance(redis, str):
            client: Redis = Redis.from_url(redis)
            self._owns_client = True
        else:
            client = redis
            self._owns_client = False
        self._key_prefix = key_prefix
        self._root = EmitterOperator(_Link(client, ClassicFormat(key_prefix)), nsp)

    @property
    def nsp(self) -> str:
        return self._root.nsp

    def of(self, nsp: str) -> Emitter:
        """An emitter for another namespace on the same client (a missing leading slash is
        added); closing it leaves the client open."""
        name = nsp if nsp.startswith("/") else f"/{nsp}"
        return Emitter(self._root.link.redis, self._key_prefix, name)

    def to(self, room: Room | Iterable[Room]) -> EmitterOperator:
        return self._root.to(room)

    def in_(self, room: Room | Iterable[Room]) -> EmitterOperator:
        return self._root.to(room)

    def except_(self, room: Room | Iterable[Room]) -> EmitterOperator:
        return self._root.except_(room)

    @property
    def volatile(self) -> EmitterOperator:
        return self._root.volatile

    def compress(self, compress: bool) -> EmitterOperator:
        return self._root.compress(compress)

    async def emit(self, event: str, *args: Any) -> None:
        """Send ``event`` to every socket of the namespace on every node."""
        await self._root.emit(event, *args)

    async def sockets_join(self, rooms: Room | Iterable[Room]) -> None:
        await self._root.sockets_join(rooms)

    async def sockets_leave(self, rooms: Room | Iterable[Room]) -> None:
        await self._root.sockets_leave(rooms)

    async def disconnect_sockets(self, close: bool = False) -> None:
        await self._root.disconnect_sockets(close)

    async def server_side_emit(self, event: str, *args: Any) -> None:
        """Run the servers' ``on_server_event(event)`` handlers; nobody answers an emitter."""
        if event in RESERVED_EVENTS:
            raise ValueError(f"{event!r} is a reserved event name")
        _refuse_acks(args)
        await _publish(self._root.link, ServerSideEmit(EMITTER_UID, self.nsp, [event, *args]))

    async def close(self) -> None:
        """Close the client this emitter made from a URL (a client passed in stays open)."""
        if self._owns_client:
            await self._root.link.redis.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
