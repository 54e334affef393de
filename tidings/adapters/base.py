"""The adapter interface: where rooms live and how a broadcast reaches sockets.

Shaped like the official Node adapters (``{rooms, except, flags}`` for a broadcast,
remote add/remove/disconnect/fetch operations), so that a Redis adapter can later
join a cluster of Node socket.io servers without the server layer changing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from tidings.ids import Room, Sid

if TYPE_CHECKING:
    from tidings.protocol.prepared import PreparedMessage
    from tidings.protocol.socketio import Packet
    from tidings.serializers import Serializer


@dataclass(frozen=True, slots=True)
class BroadcastFlags:
    volatile: bool = False
    local: bool = False
    timeout: float | None = None


@dataclass(frozen=True, slots=True)
class BroadcastOptions:
    rooms: frozenset[Room] = frozenset()
    except_: frozenset[Room] = frozenset()
    flags: BroadcastFlags = BroadcastFlags()


class LocalConnection(Protocol):
    """What the adapter writes to: the engine side of one client."""

    @property
    def writable(self) -> bool: ...

    def send_prepared(self, prepared: PreparedMessage) -> None: ...


class LocalSocket(Protocol):
    """What the adapter needs of a server socket (``tidings.server.Socket``)."""

    @property
    def id(self) -> Sid: ...

    @property
    def _out(self) -> LocalConnection:
        """Where its packets go (a stand-in that holds them while it connects)."""
        ...

    def join(self, rooms: str | Iterable[str]) -> None: ...

    def leave(self, room: str) -> None: ...

    async def disconnect(self, close: bool = False) -> None: ...

    def _expect_ack(self, ack_id: int, callback: Callable[[Sid, list[Any] | None], None]) -> None: ...


class LocalNamespace(Protocol):
    """What the adapter needs of the namespace it serves (``tidings.server.Namespace``)."""

    @property
    def name(self) -> str: ...

    @property
    def sockets(self) -> Mapping[Sid, LocalSocket]: ...

    @property
    def serializer(self) -> Serializer: ...


class Adapter(Protocol):
    """One per namespace. Local operations are synchronous; anything that may cross
    processes (a broadcast, remote socket operations) is a coroutine."""

    def add_all(self, sid: Sid, rooms: Iterable[Room]) -> None: ...

    def delete(self, sid: Sid, room: Room) -> None: ...

    def delete_all(self, sid: Sid) -> None: ...

    def socket_rooms(self, sid: Sid) -> set[Room]: ...

    def room_sids(self, room: Room) -> set[Sid]: ...

    def rooms(self) -> dict[Room, set[Sid]]: ...

    def sids(self, opts: BroadcastOptions) -> list[Sid]: ...

    async def broadcast(self, packet: Packet, opts: BroadcastOptions) -> None: ...

    async def broadcast_with_ack(
        self,
        packet: Packet,
        opts: BroadcastOptions,
        client_count_callback: Callable[[int], None],
        ack: Callable[[Sid, list[Any] | None], None],
    ) -> None: ...

    async def add_sockets(self, opts: BroadcastOptions, rooms: Iterable[Room]) -> None: ...

    async def del_sockets(self, opts: BroadcastOptions, rooms: Iterable[Room]) -> None: ...

    async def disconnect_sockets(self, opts: BroadcastOptions, close: bool) -> None: ...

    async def fetch_sockets(self, opts: BroadcastOptions) -> list[Any]: ...

    async def close(self) -> None: ...
