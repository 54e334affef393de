"""The classic format of ``@socket.io/redis-adapter`` 8.3 (``createAdapter``), also spoken by
``@socket.io/redis-emitter`` 5.1.

Broadcasts are a MessagePack array ``[uid, packet, opts]`` on ``P#N#`` (or ``P#N#R#`` for one
room); requests are flat JSON objects on ``P-request#N#`` (MessagePack for a broadcast with acks);
responses carry no uid nor namespace and go to ``P-response#N#``. Key order as Node writes it.
Sans-I/O.
"""

from __future__ import annotations

from typing import Any, Final

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
    from_msgpack,
    map_field,
    pack,
    request_id_field,
    room_list,
    sniff,
    target_from_opts,
    text_field,
    to_json,
)
from tidings.adapters.redis.wire import Subscriptions

__all__ = ["EMITTER_UID", "ClassicFormat"]

EMITTER_UID: Final = "emitter"
"""The uid the Redis emitters put on their broadcasts and server-side emits."""

# RequestType of @socket.io/redis-adapter.
_SOCKETS: Final = 0
_ALL_ROOMS: Final = 1
_REMOTE_JOIN: Final = 2
_REMOTE_LEAVE: Final = 3
_REMOTE_DISCONNECT: Final = 4
_REMOTE_FETCH: Final = 5
_SERVER_SIDE_EMIT: Final = 6
_BROADCAST: Final = 7
_BROADCAST_CLIENT_COUNT: Final = 8
_BROADCAST_ACK: Final = 9


def _request_opts(target: Target) -> dict[str, Any]:
    # Requests 2-5 carry rooms and except only: flags never travel there.
    return {"rooms": list(target.rooms), "except": list(target.except_)}


def _broadcast_opts(target: Target, uid: str) -> dict[str, Any]:
    if uid == EMITTER_UID:  # the emitter writes its keys in this order
        return {"rooms": list(target.rooms), "flags": target.flags, "except": list(target.except_)}
    return {"rooms": list(target.rooms), "except": list(target.except_), "flags": target.flags}


def _with_uid(uid: str | None, fields: dict[str, Any]) -> dict[str, Any]:
    # uid first when present; the emitter's requests have none.
    return fields if uid is None else {"uid": uid, **fields}


def _packet(packet: Any) -> tuple[list[Any], str]:
    # The namespace is the packet's (a missing one means "/"), whatever the channel says.
    packet = map_field(packet, "packet")
    if packet.get("type") not in (2, 5):
        raise WireError("a broadcast packet must be an EVENT")
    nsp = packet.get("nsp", "/")
    if not isinstance(nsp, str):
        raise WireError("packet.nsp must be a string")
    return event_field(packet.get("data")), nsp


def _optional_uid(message: dict[str, Any]) -> str | None:
    uid = message.get("uid")
    if uid is not None and not isinstance(uid, str):
        raise WireError("uid must be a string")
    return uid


class ClassicFormat:
    """``createAdapter(pub, sub)`` with ``key`` = ``prefix``."""

    __slots__ = ("_prefix", "_broadcast_prefix", "_request_prefix", "_response_prefix", "_max_size")

    def __init__(self, prefix: str = "socket.io", *, max_message_size: int = MAX_MESSAGE_SIZE) -> None:
        self._prefix = prefix
        self._broadcast_prefix = f"{prefix}#"
        self._request_prefix = f"{prefix}-request#"
        self._response_prefix = f"{prefix}-response#"
        self._max_size = max_message_size

    @property
    def name(self) -> str:
        return "classic"

    def broadcast_channel(self, nsp: str, room: Room | None = None) -> str:
        """``P#N#``, or ``P#N#R#`` for a broadcast to exactly one room."""
        if room is None:
            return f"{self._prefix}#{nsp}#"
        return f"{self._prefix}#{nsp}#{room}#"

    def request_channel(self, nsp: str) -> str:
        """``P-request#N#``: every request; its NUMSUB counts servers."""
        return f"{self._prefix}-request#{nsp}#"

    def response_channel(self, nsp: str, uid: str | None = None) -> str:
        """``P-response#N#`` (where answers go), or a node's own ``P-response#N#U#``."""
        if uid is None:
            return f"{self._prefix}-response#{nsp}#"
        return f"{self._prefix}-response#{nsp}#{uid}#"

    def subscriptions(self, nsp: str, uid: str) -> Subscriptions:
        return Subscriptions(
            channels=(
                self.request_channel(nsp), self.response_channel(nsp),
                self.response_channel(nsp, uid),
            ),
            patterns=(f"{self._prefix}#{nsp}#*",),
        )

    def room_channel(self, nsp: str, room: Room) -> str | None:
        return None

    def count_channel(self, nsp: str) -> tuple[str, str]:
        return "NUMSUB", self.request_channel(nsp)

    # -- encoding

    def encode(self, message: ClusterMessage, reply_to: str | None = None) -> list[Outgoing]:
        """Responses always go to the common response channel (``reply_to`` is not needed)."""
        nsp = message.nsp
        if isinstance(message, Broadcast):
            packet = {"type": 2, "data": message.data, "nsp": nsp}
            opts = _broadcast_opts(message.target, message.uid)
            if message.request_id is None:
                rooms = message.target.rooms
                channel = self.broadcast_channel(nsp, rooms[0] if len(rooms) == 1 else None)
                return [Outgoing(channel, pack([message.uid, packet, opts]))]
            body = {
                "uid": message.uid, "requestId": message.request_id, "type": _BROADCAST,
                "packet": packet, "opts": opts,
            }
            return [Outgoing(self.request_channel(nsp), pack(body))]
        if isinstance(message, BroadcastAck):
            body = {"type": _BROADCAST_ACK, "requestId": message.request_id, "packet": message.data}
            return [Outgoing(self.response_channel(nsp), pack(body))]
        return [Outgoing(*self._json_message(message))]

    def _json_message(self, message: ClusterMessage) -> tuple[str, bytes]:
        nsp = message.nsp
        request: dict[str, Any]
        if isinstance(message, SocketsJoin | SocketsLeave):
            type_ = _REMOTE_JOIN if isinstance(message, SocketsJoin) else _REMOTE_LEAVE
            request = _with_uid(message.uid, {
                "type": type_, "opts": _request_opts(message.target), "rooms": list(message.rooms),
            })
        elif isinstance(message, DisconnectSockets):
            request = _with_uid(message.uid, {
                "type": _REMOTE_DISCONNECT, "opts": _request_opts(message.target),
                "close": message.close,
            })
        elif isinstance(message, FetchSockets):
            request = {
                "uid": message.uid, "requestId": message.request_id, "type": _REMOTE_FETCH,
                "opts": _request_opts(message.target),
            }
        elif isinstance(message, ServerSideEmit):
            request = {"uid": message.uid}
            if message.request_id is not None:
                request["requestId"] = message.request_id
            request["type"] = _SERVER_SIDE_EMIT
            request["data"] = message.data
        elif isinstance(message, AllRooms):
            request = {"uid": message.uid, "requestId": message.request_id, "type": _ALL_ROOMS}
        else:
            return self.response_channel(nsp), to_json(_response_body(message))
        return self.request_channel(nsp), to_json(request)

    # -- decoding

    def decode_entry(self, stream: str, fields: dict[bytes, bytes]) -> ClusterMessage | None:
        raise WireError("the classic format has no streams")

    def decode(self, channel: str, payload: bytes) -> ClusterMessage | None:
        if channel.startswith(self._request_prefix):
            return self._decode_request(_channel_nsp(channel, self._request_prefix), payload)
        if channel.startswith(self._response_prefix):
            return self._decode_response(_channel_nsp(channel, self._response_prefix), payload)
        if channel.startswith(self._broadcast_prefix):
            return self._decode_broadcast(payload)
        raise WireError(f"channel {channel!r} is not one of this format's")

    def _decode_broadcast(self, payload: bytes) -> Broadcast:
        value = from_msgpack(payload, self._max_size)
        if not isinstance(value, list) or len(value) != 3:
            raise WireError("a broadcast must be a [uid, packet, opts] array")
        uid, packet, opts = value
        if not isinstance(uid, str):
            raise WireError("uid must be a string")
        data, nsp = _packet(packet)
        return Broadcast(uid, nsp, data, target_from_opts(opts))

    def _decode_request(self, nsp: str, payload: bytes) -> ClusterMessage | None:
        request = map_field(sniff(payload, self._max_size), "request")
        type_ = request.get("type")
        if type_ in (_REMOTE_JOIN, _REMOTE_LEAVE, _REMOTE_DISCONNECT):
            uid = _optional_uid(request)
            if "opts" in request:
                target = target_from_opts(request["opts"])
            else:  # the one-socket form of redis-adapter < 8.0: {sid, room} or {sid, close}
                target = Target(rooms=(text_field(request, "sid"),))
            if type_ == _REMOTE_DISCONNECT:
                return DisconnectSockets(uid, nsp, target, request.get("close") is True)
            rooms = room_list(request.get("rooms")) if "opts" in request else (
                text_field(request, "room"),
            )
            cls = SocketsJoin if type_ == _REMOTE_JOIN else SocketsLeave
            return cls(uid, nsp, target, rooms)
        if type_ == _REMOTE_FETCH:
            return FetchSockets(
                text_field(request, "uid"), nsp, target_from_opts(request.get("opts")),
                text_field(request, "requestId"),
            )
        if type_ == _SERVER_SIDE_EMIT:
            return ServerSideEmit(
                text_field(request, "uid"), nsp, event_field(request.get("data")),
                request_id_field(request),
            )
        if type_ == _BROADCAST:
            data, packet_nsp = _packet(request.get("packet"))
            return Broadcast(
                text_field(request, "uid"), packet_nsp, data, target_from_opts(request.get("opts")),
                text_field(request, "requestId"),
            )
        if type_ == _ALL_ROOMS:
            return AllRooms(text_field(request, "uid"), nsp, text_field(request, "requestId"))
        if type_ == _SOCKETS:
            return None  # allSockets() of redis-adapter < 8.0: nobody asks any more
        raise WireError(f"unknown request type {type_!r}")

    def _decode_response(self, nsp: str, payload: bytes) -> ClusterMessage | None:
        response = map_field(sniff(payload, self._max_size), "response")
        request_id = text_field(response, "requestId")
        type_ = response.get("type")
        if type_ == _SERVER_SIDE_EMIT:
            return ServerSideEmitResponse(None, nsp, request_id, response.get("data"))
        if type_ == _BROADCAST_CLIENT_COUNT:
            count = response.get("clientCount")
            if not isinstance(count, int) or isinstance(count, bool) or count < 0:
                raise WireError("clientCount must be a non-negative integer")
            return BroadcastClientCount(None, nsp, request_id, count)
        if type_ == _BROADCAST_ACK:
            return BroadcastAck(None, nsp, request_id, response.get("packet"))
        if type_ is not None:
            raise WireError(f"unknown response type {type_!r}")
        if "sockets" in response:
            sockets = response["sockets"]
            if not isinstance(sockets, list):
                raise WireError("sockets must be a list")
            if all(isinstance(item, dict) for item in sockets):
                return FetchSocketsResponse(None, nsp, request_id, sockets)
            if all(isinstance(item, str) for item in sockets):
                return None  # the answer to an allSockets() of redis-adapter < 8.0
            raise WireError("sockets must be a list of maps")
        if "rooms" in response:
            return AllRoomsResponse(None, nsp, request_id, list(room_list(response["rooms"])))
        return None  # {requestId} alone: the answer to a one-socket request of redis-adapter < 8.0


def _channel_nsp(channel: str, prefix: str) -> str:
    # The namespace is the text up to the next '#' after the channel's prefix.
    nsp, sep, _ = channel[len(prefix):].partition("#")
    if not sep:
        raise WireError(f"channel {channel!r} names no namespace")
    return nsp


def _response_body(message: ClusterMessage) -> dict[str, Any]:
    if isinstance(message, FetchSocketsResponse):
        return {"requestId": message.request_id, "sockets": message.sockets}
    if isinstance(message, AllRoomsResponse):
        return {"requestId": message.request_id, "rooms": message.rooms}
    if isinstance(message, ServerSideEmitResponse):
        return {"type": _SERVER_SIDE_EMIT, "requestId": message.request_id, "data": message.data}
    assert isinstance(message, BroadcastClientCount)
    return {
        "type": _BROADCAST_CLIENT_COUNT, "requestId": message.request_id,
        "clientCount": message.count,
    }
