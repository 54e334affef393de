"""The adapter interface: where rooms live and how a broadcast reaches sockets.

One adapter per namespace. The server calls it for every room change and every
operation that may cross processes; the adapter calls back into local sockets
through ``LocalSocket`` only. Shaped like the official Node adapters (a broadcast
carries ``{rooms, except, flags}``; remote operations are add/remove sockets to
rooms, disconnect, fetch, server-side emit, and broadcast with acks, which first
learns how many clients each node reaches), so a cluster adapter can join Node
socket.io servers without the server layer changing. docs/adapters.md says how to
write one; ``tidings.adapters.memory.InMemoryAdapter`` is the reference.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from tidings.ids import Room, Sid
from tidings.protocol.prepared import PreparedMessage
from tidings.protocol.socketio import Packet, PacketType, Parser

__all__ = [
    "SLOW_CONSUMER_POLICIES",
    "AckCallback",
    "Adapter",
    "BroadcastFlags",
    "BroadcastOptions",
    "LocalConnection",
    "LocalNamespace",
    "LocalSocket",
    "SlowConsumer",
    "SocketHandle",
    "prepare_packet",
]

SlowConsumer = Literal["disconnect", "drop", "conflate"]
"""What happens to a client that does not read what it is sent (docs/limits.md):
``"disconnect"`` at ``max_buffered_bytes``; ``"drop"``: events that await no ack may be
dropped, oldest first, while it is behind; ``"conflate"``: as "drop", and while it is
behind, only the latest of each event waits for it."""
SLOW_CONSUMER_POLICIES: tuple[SlowConsumer, ...] = ("disconnect", "drop", "conflate")


def prepare_packet(
    packet: Packet, parser: Parser, compress: bool = True, slow_consumer: SlowConsumer = "disconnect"
) -> PreparedMessage:
    """``packet`` encoded once for every recipient, marked with what the slow-consumer
    policy of its namespace lets a slow client miss: an event that awaits no ack."""
    if slow_consumer == "disconnect" or packet.id is not None or packet.type not in _EVENTS:
        return PreparedMessage(parser.encode(packet), compress)
    key = f"{packet.namespace}\x00{packet.data[0]}" if slow_consumer == "conflate" else None
    return PreparedMessage(parser.encode(packet), compress, droppable=True, key=key)


_EVENTS = (PacketType.EVENT, PacketType.BINARY_EVENT)

AckCallback = Callable[[Sid, "list[Any] | None"], None]
"""Called once per client with its ack arguments, or None when it left without answering."""


@dataclass(frozen=True, slots=True)
class BroadcastFlags:
    volatile: bool = False
    """Skip a client that cannot take the message at once."""
    local: bool = False
    """Only the sockets of this process (never forwarded to other nodes)."""
    timeout: float | None = None
    """For a broadcast with acks: seconds to wait for every reply."""
    compress: bool = True
    """False: sent uncompressed even over permessage-deflate (Node's ``compress(false)``)."""


@dataclass(frozen=True, slots=True)
class BroadcastOptions:
    rooms: frozenset[Room] = frozenset()
    """The sockets in any of these rooms (a socket id is a room); empty: every socket."""
    except_: frozenset[Room] = frozenset()
    """Less the sockets in any of these rooms."""
    flags: BroadcastFlags = BroadcastFlags()


class LocalConnection(Protocol):
    """Where a local socket's packets go: its Engine.IO connection, or a stand-in that
    holds them while the socket connects (so the client reads CONNECT first)."""

    @property
    def writable(self) -> bool:
        """Whether a message sent now leaves at once (volatile broadcasts skip it otherwise)."""
        ...

    def send(self, data: str | bytes) -> None:
        """One Engine.IO message: text, or one binary attachment."""
        ...

    def send_prepared(self, prepared: PreparedMessage) -> None:
        """A message encoded once for many sockets: the same bytes for each."""
        ...


class SocketHandle(Protocol):
    """A socket anywhere in the cluster, as ``fetch_sockets()`` returns it."""

    @property
    def id(self) -> Sid: ...

    @property
    def rooms(self) -> set[Room]: ...

    @property
    def data(self) -> dict[str, Any]: ...

    @property
    def handshake(self) -> Any:
        """What the client presented when it connected (a ``Handshake`` here, a dict of
        Node's shape for a socket on another node)."""
        ...

    async def emit(self, event: str, *args: Any) -> None: ...

    def join(self, rooms: str | Iterable[str]) -> None: ...

    def leave(self, room: str) -> None: ...

    async def disconnect(self, close: bool = False) -> None: ...


class LocalSocket(SocketHandle, Protocol):
    """What an adapter may use of a socket of this process (``tidings.Socket``)."""

    @property
    def writer(self) -> LocalConnection:
        """Where its packets go; broadcasts write prepared messages here."""
        ...

    def expect_ack(self, ack_id: int, callback: AckCallback) -> None:
        """Call ``callback`` when the client acknowledges packet ``ack_id`` (or leaves)."""
        ...


class LocalNamespace(Protocol):
    """What an adapter may use of the namespace it serves (``tidings.Namespace``)."""

    @property
    def name(self) -> str: ...

    @property
    def sockets(self) -> Mapping[Sid, LocalSocket]:
        """The connected sockets of this process, by id."""
        ...

    @property
    def parser(self) -> Parser:
        """The packet codec: a broadcast is encoded with it once, for every local socket."""
        ...

    @property
    def slow_consumer(self) -> SlowConsumer:
        """What a client that does not keep up may miss of this namespace's broadcasts."""
        ...

    def next_ack_id(self) -> int:
        """A new ack id of this namespace, for a broadcast with acks from another node."""
        ...

    def receive_server_side_emit(
        self, data: list[Any], ack: Callable[[Any], None] | None
    ) -> None:
        """Another server's ``server_side_emit`` (``[event, *args]``) reached this one; with
        ``ack``, call it once with the handler's answer."""
        ...

    def receive_broadcast(self, packet: Packet, opts: BroadcastOptions) -> bool:
        """A broadcast from another node reached this one. True: the namespace delivers it
        itself (with connection state recovery, in offset order with its own emits, through
        this adapter's ``broadcast`` with the ``local`` flag); False: deliver it now.

        The namespace relies on ``broadcast`` writing to the local sockets before it first
        suspends: that is the point where an emit takes its place in the order."""
        ...


class Adapter(Protocol):
    """Rooms and broadcasts of one namespace; ``adapter_factory(namespace)`` makes one.

    Room bookkeeping is synchronous and local (it runs on every join and leave).
    Everything that may cross processes is a coroutine: a cluster adapter sends it to
    the other nodes as well as doing it here.
    """

    # -- this process's rooms ------------------------------------------------------------

    def add_all(self, sid: Sid, rooms: Iterable[Room]) -> None:
        """Socket ``sid`` joins ``rooms`` (a member may join before it is registered)."""
        ...

    def delete(self, sid: Sid, room: Room) -> None: ...

    def delete_all(self, sid: Sid) -> None:
        """Socket ``sid`` left: it is in no room any more."""
        ...

    def socket_rooms(self, sid: Sid) -> set[Room]:
        """The rooms of a local socket, its own id included."""
        ...

    def room_sids(self, room: Room) -> set[Sid]: ...

    def rooms(self) -> dict[Room, set[Sid]]:
        """Every room of this process with its members (socket ids are not listed as rooms)."""
        ...

    def sids(self, opts: BroadcastOptions) -> list[Sid]:
        """The local sockets a broadcast with ``opts`` reaches."""
        ...

    # -- operations that may cross processes --------------------------------------------

    async def broadcast(self, packet: Packet, opts: BroadcastOptions) -> None:
        """Send ``packet`` to every socket ``opts`` selects: encoded once, the same bytes each."""
        ...

    async def broadcast_with_ack(
        self,
        packet: Packet,
        opts: BroadcastOptions,
        client_count_callback: Callable[[int], None],
        ack: AckCallback,
    ) -> None:
        """Like ``broadcast``; ``packet.id`` is set. Each node calls ``client_count_callback``
        once with the number of clients it reached, then ``ack`` once per reply."""
        ...

    async def add_sockets(self, opts: BroadcastOptions, rooms: Iterable[Room]) -> None:
        """The sockets ``opts`` selects join ``rooms``."""
        ...

    async def del_sockets(self, opts: BroadcastOptions, rooms: Iterable[Room]) -> None:
        """The sockets ``opts`` selects leave ``rooms``."""
        ...

    async def disconnect_sockets(self, opts: BroadcastOptions, close: bool) -> None: ...

    async def fetch_sockets(self, opts: BroadcastOptions) -> list[SocketHandle]:
        """The sockets ``opts`` selects, local ones as they are, remote ones as handles."""
        ...

    async def server_side_emit(self, data: list[Any]) -> None:
        """Send ``data`` (``[event, *args]``) to the other servers' namespace of this name."""
        ...

    async def server_side_emit_with_ack(self, data: list[Any], timeout: float | None) -> list[Any]:
        """The same, and return one answer from each other server (none in a single
        process). Raises ``AckTimeoutError`` carrying the answers that came in time."""
        ...

    async def server_count(self) -> int:
        """How many servers the cluster has, this one included."""
        ...

    async def open(self) -> None:
        """Join the cluster (subscribe); the server awaits it at startup, and for a namespace
        made later it runs before that namespace is used. Raises ``ClusterError`` when the
        cluster cannot be reached."""
        ...

    async def close(self) -> None:
        """Leave the cluster; the server awaits it at shutdown."""
        ...
