"""What cluster nodes say to each other, whatever the wire format.

The three Redis formats of the official Node adapters (classic, sharded, streams;
see docs/cluster.md) carry the same operations under different envelopes. Each
format's codec turns these messages into bytes on channels and back; the cluster
adapter only ever sees these. Sans-I/O: no asyncio, no Redis here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "AllRooms",
    "AllRoomsResponse",
    "Broadcast",
    "BroadcastAck",
    "BroadcastClientCount",
    "ClusterMessage",
    "DisconnectSockets",
    "FetchSockets",
    "FetchSocketsResponse",
    "Outgoing",
    "ServerSideEmit",
    "ServerSideEmitResponse",
    "SocketsJoin",
    "SocketsLeave",
    "Target",
    "WireError",
]

Room = str | int
"""Room names are strings in practice; Node allows numbers, which stay distinct keys."""


class WireError(ValueError):
    """A message on a cluster channel that is not one of ours to read (logged and dropped)."""


@dataclass(frozen=True, slots=True)
class Target:
    """Which sockets an operation selects on each node (Node's ``{rooms, except, flags}``)."""

    rooms: tuple[Room, ...] = ()
    except_: tuple[Room, ...] = ()
    flags: dict[str, Any] = field(default_factory=dict)
    """As on the wire: ``volatile``, ``timeout`` (ms), ``expectSingleResponse``...; unknown
    flags are kept and ignored."""


@dataclass(frozen=True, slots=True)
class Broadcast:
    """Deliver ``data`` (``[event, *args]``, binary inline) to the selected sockets.
    With ``request_id``: a broadcast with acks (answered by a client count, then acks)."""

    uid: str
    nsp: str
    data: list[Any]
    target: Target
    request_id: str | None = None


@dataclass(frozen=True, slots=True)
class SocketsJoin:
    uid: str | None
    nsp: str
    target: Target
    rooms: tuple[Room, ...]


@dataclass(frozen=True, slots=True)
class SocketsLeave:
    uid: str | None
    nsp: str
    target: Target
    rooms: tuple[Room, ...]


@dataclass(frozen=True, slots=True)
class DisconnectSockets:
    uid: str | None
    nsp: str
    target: Target
    close: bool


@dataclass(frozen=True, slots=True)
class FetchSockets:
    uid: str
    nsp: str
    target: Target
    request_id: str


@dataclass(frozen=True, slots=True)
class FetchSocketsResponse:
    """``sockets``: ``{id, handshake, rooms, data}`` each, as Node's ``RemoteSocket`` reads them."""

    uid: str | None
    nsp: str
    request_id: str
    sockets: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class ServerSideEmit:
    """``data`` is ``[event, *args]``; with ``request_id`` each other server answers once."""

    uid: str
    nsp: str
    data: list[Any]
    request_id: str | None = None


@dataclass(frozen=True, slots=True)
class ServerSideEmitResponse:
    uid: str | None
    nsp: str
    request_id: str
    data: Any
    """The first argument the handler acknowledged with (only the first travels)."""


@dataclass(frozen=True, slots=True)
class BroadcastClientCount:
    uid: str | None
    nsp: str
    request_id: str
    count: int


@dataclass(frozen=True, slots=True)
class BroadcastAck:
    uid: str | None
    nsp: str
    request_id: str
    data: Any
    """The first argument of one client's ack."""


@dataclass(frozen=True, slots=True)
class AllRooms:
    """Classic format only: every node answers with its local rooms."""

    uid: str
    nsp: str
    request_id: str


@dataclass(frozen=True, slots=True)
class AllRoomsResponse:
    uid: str | None
    nsp: str
    request_id: str
    rooms: list[Room]


ClusterMessage = (
    Broadcast | SocketsJoin | SocketsLeave | DisconnectSockets | FetchSockets
    | FetchSocketsResponse | ServerSideEmit | ServerSideEmitResponse | BroadcastClientCount
    | BroadcastAck | AllRooms | AllRoomsResponse
)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One thing to put on Redis for a message: a publish, or (streams) a stream entry."""

    channel: str
    """The channel to (S)PUBLISH to, or the stream key for an entry."""
    payload: bytes = b""
    """What to publish (empty for a stream entry)."""
    fields: tuple[tuple[str, str], ...] = ()
    """A stream entry's fields, in order (``uid, nsp, type, data``); empty for a publish."""
    sharded: bool = False
    """SPUBLISH rather than PUBLISH."""
