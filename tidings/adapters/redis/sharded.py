"""The sharded format of ``@socket.io/redis-adapter`` 8.3 (``createShardedAdapter``).

One envelope ``{type, data, uid, nsp}`` per message over SPUBLISH/SSUBSCRIBE, JSON text unless
the message carries binary (then MessagePack). The envelope's ``data`` is socket.io-adapter's
ClusterAdapter message, which the streams format shares: ``cluster_envelope_data`` and
``cluster_message`` are that one mapping, used by both. Sans-I/O.
"""

from __future__ import annotations

from typing import Any, Final, Literal

from tidings.adapters.redis.messages import (
    AllRooms,
    AllRoomsResponse,
    Broadcast,
    BroadcastAck,
    BroadcastClientCount,
    ClusterMessage,
    DisconnectSockets,
    FetchSockets,
    FetchSocketsResponse,
    Outgoing,
    Room,
    ServerSideEmit,
    ServerSideEmitResponse,
    SocketsJoin,
    SocketsLeave,
    Target,
    WireError,
)
from tidings.adapters.redis.values import (
    MAX_MESSAGE_SIZE,
    event_field,
    map_field,
    pack,
    request_id_field,
    room_list,
    sniff,
    target_from_opts,
    text_field,
    to_json,
    to_json_unless_binary,
)
from tidings.adapters.redis.wire import Subscriptions

__all__ = [
    "MAY_CARRY_BINARY",
    "RESPONSE_TYPES",
    "ShardedFormat",
    "SubscriptionMode",
    "cluster_envelope_data",
    "cluster_message",
    "envelope_message",
]

SubscriptionMode = Literal["static", "dynamic", "dynamic-private"]

# socket.io-adapter's MessageType.
_INITIAL_HEARTBEAT: Final = 1
_HEARTBEAT: Final = 2
_BROADCAST: Final = 3
_SOCKETS_JOIN: Final = 4
_SOCKETS_LEAVE: Final = 5
_DISCONNECT_SOCKETS: Final = 6
_FETCH_SOCKETS: Final = 7
_FETCH_SOCKETS_RESPONSE: Final = 8
_SERVER_SIDE_EMIT: Final = 9
_SERVER_SIDE_EMIT_RESPONSE: Final = 10
_BROADCAST_CLIENT_COUNT: Final = 11
_BROADCAST_ACK: Final = 12
_ADAPTER_CLOSE: Final = 13

MAY_CARRY_BINARY: Final = frozenset(
    {_BROADCAST, _FETCH_SOCKETS_RESPONSE, _SERVER_SIDE_EMIT, _SERVER_SIDE_EMIT_RESPONSE, _BROADCAST_ACK}
)
"""Message types Node encodes as MessagePack when (and only when) they hold binary."""

RESPONSE_TYPES: Final = frozenset(
    {_FETCH_SOCKETS_RESPONSE, _SERVER_SIDE_EMIT_RESPONSE, _BROADCAST_CLIENT_COUNT, _BROADCAST_ACK}
)
"""Message types that go to the requester's private channel."""

_IGNORED_TYPES: Final = frozenset({_INITIAL_HEARTBEAT, _HEARTBEAT, _ADAPTER_CLOSE})


def _opts(target: Target) -> dict[str, Any]:
    return {"rooms": list(target.rooms), "except": list(target.except_), "flags": target.flags}


def cluster_envelope_data(message: ClusterMessage) -> tuple[int, dict[str, Any]]:
    """(type, data) of a ClusterAdapter message, ``data``'s keys in Node's order; absent
    request ids are left out. Called by the sharded and streams formats."""
    if isinstance(message, Broadcast):
        packet = {"type": 2, "data": message.data}
        if message.request_id is None:
            return _BROADCAST, {"packet": packet, "opts": _opts(message.target)}
        return _BROADCAST, {
            "packet": packet, "requestId": message.request_id, "opts": _opts(message.target),
        }
    if isinstance(message, SocketsJoin):
        return _SOCKETS_JOIN, {"opts": _opts(message.target), "rooms": list(message.rooms)}
    if isinstance(message, SocketsLeave):
        return _SOCKETS_LEAVE, {"opts": _opts(message.target), "rooms": list(message.rooms)}
    if isinstance(message, DisconnectSockets):
        return _DISCONNECT_SOCKETS, {"opts": _opts(message.target), "close": message.close}
    if isinstance(message, FetchSockets):
        return _FETCH_SOCKETS, {"opts": _opts(message.target), "requestId": message.request_id}
    if isinstance(message, FetchSocketsResponse):
        return _FETCH_SOCKETS_RESPONSE, {
            "requestId": message.request_id, "sockets": message.sockets,
        }
    if isinstance(message, ServerSideEmit):
        if message.request_id is None:
            return _SERVER_SIDE_EMIT, {"packet": message.data}
        return _SERVER_SIDE_EMIT, {"requestId": message.request_id, "packet": message.data}
    if isinstance(message, ServerSideEmitResponse):
        return _SERVER_SIDE_EMIT_RESPONSE, {"requestId": message.request_id, "packet": message.data}
    if isinstance(message, BroadcastClientCount):
        return _BROADCAST_CLIENT_COUNT, {
            "requestId": message.request_id, "clientCount": message.count,
        }
    if isinstance(message, BroadcastAck):
        return _BROADCAST_ACK, {"requestId": message.request_id, "packet": message.data}
    assert isinstance(message, AllRooms | AllRoomsResponse)
    raise ValueError("allRooms exists in the classic format only")


def _event_packet(packet: Any) -> list[Any]:
    packet = map_field(packet, "packet")
    if packet.get("type") not in (2, 5):
        raise WireError("a broadcast packet must be an EVENT")
    return event_field(packet.get("data"))


def _count(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise WireError("clientCount must be a non-negative integer")
    return value


def _sockets(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise WireError("sockets must be a list of maps")
    return value


def cluster_message(type_: Any, data: Any, uid: str, nsp: str) -> ClusterMessage | None:
    """The message of a ClusterAdapter envelope; None for heartbeats (not used by the Redis
    adapters, and harmless). Raises ``WireError``. Called by the sharded and streams formats."""
    if type_ in _IGNORED_TYPES:
        return None
    data = map_field(data, "data")
    if type_ == _BROADCAST:
        return Broadcast(
            uid, nsp, _event_packet(data.get("packet")), target_from_opts(data.get("opts")),
            request_id_field(data),
        )
    if type_ == _SOCKETS_JOIN:
        return SocketsJoin(uid, nsp, target_from_opts(data.get("opts")), room_list(data.get("rooms")))
    if type_ == _SOCKETS_LEAVE:
        return SocketsLeave(uid, nsp, target_from_opts(data.get("opts")), room_list(data.get("rooms")))
    if type_ == _DISCONNECT_SOCKETS:
        return DisconnectSockets(uid, nsp, target_from_opts(data.get("opts")), data.get("close") is True)
    if type_ == _FETCH_SOCKETS:
        return FetchSockets(uid, nsp, target_from_opts(data.get("opts")), text_field(data, "requestId"))
    if type_ == _FETCH_SOCKETS_RESPONSE:
        return FetchSocketsResponse(
            uid, nsp, text_field(data, "requestId"), _sockets(data.get("sockets"))
        )
    if type_ == _SERVER_SIDE_EMIT:
        return ServerSideEmit(uid, nsp, event_field(data.get("packet")), request_id_field(data))
    if type_ == _SERVER_SIDE_EMIT_RESPONSE:
        return ServerSideEmitResponse(uid, nsp, text_field(data, "requestId"), data.get("packet"))
    if type_ == _BROADCAST_CLIENT_COUNT:
        return BroadcastClientCount(
            uid, nsp, text_field(data, "requestId"), _count(data.get("clientCount"))
        )
    if type_ == _BROADCAST_ACK:
        return BroadcastAck(uid, nsp, text_field(data, "requestId"), data.get("packet"))
    raise WireError(f"unknown message type {type_!r}")


def envelope_message(envelope: Any) -> ClusterMessage | None:
    """The message of a whole ``{type, data, uid, nsp}`` envelope (sharded and streams pub/sub)."""
    envelope = map_field(envelope, "message")
    return cluster_message(
        envelope.get("type"), envelope.get("data"), text_field(envelope, "uid"),
        text_field(envelope, "nsp"),
    )


def _looks_like_socket_id(room: Room) -> bool:
    # Node's test, in "dynamic" mode: "a string of exactly 20 characters".
    return isinstance(room, str) and len(room) == 20


class ShardedFormat:
    """``createShardedAdapter`` on SPUBLISH/SSUBSCRIBE; ``prefix`` is Node's ``channelPrefix``,
    ``subscription_mode`` its ``subscriptionMode`` (the same on every node of a cluster)."""

    __slots__ = ("_prefix", "_mode", "_max_size")

    def __init__(
        self,
        prefix: str = "socket.io",
        subscription_mode: SubscriptionMode = "dynamic",
        *,
        max_message_size: int = MAX_MESSAGE_SIZE,
    ) -> None:
        if subscription_mode not in ("static", "dynamic", "dynamic-private"):
            raise ValueError(f"unknown subscription mode {subscription_mode!r}")
        self._prefix = prefix
        self._mode = subscription_mode
        self._max_size = max_message_size

    @property
    def name(self) -> str:
        return "sharded"

    @property
    def subscription_mode(self) -> SubscriptionMode:
        return self._mode

    def base_channel(self, nsp: str) -> str:
        """``P#N#``: requests, broadcasts to all or several rooms; its SHARDNUMSUB counts servers."""
        return f"{self._prefix}#{nsp}#"

    def subscriptions(self, nsp: str, uid: str) -> Subscriptions:
        return Subscriptions(
            channels=(f"{self._prefix}#{nsp}#", f"{self._prefix}#{nsp}#{uid}#"), sharded=True
        )

    def room_channel(self, nsp: str, room: Room) -> str | None:
        """The channel Node senders of this mode publish single-room broadcasts to, if any."""
        if self._mode == "static" or (self._mode == "dynamic" and _looks_like_socket_id(room)):
            return None
        return f"{self._prefix}#{nsp}#{room}#"

    def count_channel(self, nsp: str) -> tuple[str, str]:
        return "SHARDNUMSUB", f"{self._prefix}#{nsp}#"

    def encode(self, message: ClusterMessage, reply_to: str | None = None) -> list[Outgoing]:
        type_, data = cluster_envelope_data(message)
        envelope: dict[str, Any] = {"type": type_, "data": data}
        if message.uid is not None:
            envelope["uid"] = message.uid
        envelope["nsp"] = message.nsp
        payload = to_json_unless_binary(envelope) if type_ in MAY_CARRY_BINARY else None
        if payload is None:
            payload = pack(envelope) if type_ in MAY_CARRY_BINARY else to_json(envelope)
        if type_ in RESPONSE_TYPES:
            if reply_to is None:
                raise ValueError("a response needs the requester's uid (reply_to)")
            channel = f"{self._prefix}#{message.nsp}#{reply_to}#"
        elif (
            isinstance(message, Broadcast)
            and message.request_id is None
            and len(message.target.rooms) == 1
        ):
            channel = self.room_channel(message.nsp, message.target.rooms[0]) or self.base_channel(
                message.nsp
            )
        else:
            channel = self.base_channel(message.nsp)
        return [Outgoing(channel, payload, sharded=True)]

    def decode(self, channel: str, payload: bytes) -> ClusterMessage | None:
        return envelope_message(sniff(payload, self._max_size))

    def decode_entry(self, stream: str, fields: dict[bytes, bytes]) -> ClusterMessage | None:
        raise WireError("the sharded format has no streams")
