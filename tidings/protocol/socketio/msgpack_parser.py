"""socket.io-msgpack-parser's format: each packet is one MessagePack map in one binary message.

The map is ``{type, data, nsp, id}`` as notepack.io writes Node's packet object: keys whose
value is absent are left out (that parser refuses a CONNECT whose data is nil), and there are
no attachments: binary values sit inside the message as MessagePack ``bin``. Coming in, the
packet is checked as that parser checks it (type 0 to 4, a string namespace, data shaped for
the type, an integer id), then as tidings' JSON decoder checks the same packet (event names,
ack ids, nesting). Sans-I/O.

Values as notepack.io maps them (read by ``notepack.unpack``): a Node ``Buffer`` is ``bin``
(``bytes`` here); a JS ``Date`` is the ``fixext 8`` of type 0 (a UTC ``datetime`` here, and
back); ``undefined`` is the ``fixext 1`` of type 0 (``None``); an ``ArrayBuffer`` or typed
array from a browser is an ``ext 8/16/32`` of type 0 (``bytes``); other extension types come
as ``[type, bytes]``. NaN and the infinities travel as floats.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

try:
    import msgpack  # type: ignore[import-untyped]
except ImportError as exc:  # pragma: no cover - exercised by tests/test_extras_hints.py
    raise ImportError(
        "the msgpack parser needs the msgpack package: pip install 'tidings[msgpack]'"
    ) from exc

from tidings.protocol.socketio.decoder import DecoderLimits, nests_deeper
from tidings.protocol.socketio.errors import DecodeError
from tidings.protocol.socketio.notepack import unpack
from tidings.protocol.socketio.packets import (
    ACK,
    BINARY_ACK,
    BINARY_EVENT,
    CONNECT,
    CONNECT_ERROR,
    DISCONNECT,
    EVENT,
    MAX_ACK_ID,
    RESERVED_EVENTS,
    Packet,
    PacketType,
)

__all__ = ["MsgpackDecoder", "MsgpackParser"]

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MS = dt.timedelta(milliseconds=1)
# Node's packet types by wire number; the BINARY_* types have no place in this format.
_TYPES = {int(t): t for t in (CONNECT, DISCONNECT, EVENT, ACK, CONNECT_ERROR)}


def _pack_default(obj: Any) -> Any:
    if isinstance(obj, dt.datetime):
        if obj.tzinfo is None:
            obj = obj.replace(tzinfo=dt.UTC)
        ms = (obj - _EPOCH) // _MS
        return msgpack.ExtType(0, ms.to_bytes(8, "big", signed=True))
    raise TypeError(f"cannot serialize {type(obj).__name__} value to MessagePack")


class MsgpackParser:
    """socket.io-msgpack-parser's format (``parser="msgpack"``); needs ``tidings[msgpack]``.

    Binary values are copied once into the message going out and once out of it coming in:
    the format holds them inside the packet, so there is nothing to share with the caller.
    """

    __slots__ = ("_pack",)

    def __init__(self) -> None:
        # One packer per parser (a parser serves one server or client, on one thread).
        self._pack = msgpack.Packer(default=_pack_default).pack

    def encode(self, packet: Packet) -> tuple[bytes]:
        ptype = packet.type
        data = packet.data
        ack_id = packet.id
        nsp = packet.namespace
        if type(nsp) is not str:
            raise TypeError(f"namespace must be a str, not {type(nsp).__name__}")
        if not nsp.startswith("/"):
            raise ValueError(f"namespace must start with '/': {nsp!r}")
        if ptype == EVENT or ptype == BINARY_EVENT:
            if (type(data) is not list and type(data) is not tuple) or not data:
                raise TypeError("an EVENT needs a non-empty list: the event name, then its arguments")
            name = data[0]
            if type(name) is not str:
                raise TypeError(f"event name must be a str, not {type(name).__name__}")
            if name in RESERVED_EVENTS:
                raise ValueError(f"{name!r} is a reserved event name")
            obj: dict[str, Any] = {"type": 2, "data": data, "nsp": nsp}
        elif ptype == ACK or ptype == BINARY_ACK:
            if type(data) is not list and type(data) is not tuple:
                raise TypeError("an ACK needs a list of arguments (possibly empty)")
            if ack_id is None:
                raise ValueError("an ACK needs the id of the packet it acknowledges")
            obj = {"type": 3, "data": data, "nsp": nsp}
        else:
            if ack_id is not None:
                raise ValueError(f"only EVENT and ACK packets carry an id, not {ptype!r}")
            if ptype == CONNECT:
                if data is not None and type(data) is not dict:
                    raise TypeError("CONNECT data must be a dict (or None)")
            elif ptype == DISCONNECT:
                if data is not None:
                    raise TypeError("a DISCONNECT carries no data")
            elif ptype == CONNECT_ERROR:
                if type(data) is not dict and type(data) is not str:
                    raise TypeError('CONNECT_ERROR data must be a dict such as {"message": ...} (or a str)')
            else:
                raise ValueError(f"unknown packet type {ptype!r}")
            obj = {"type": int(ptype), "nsp": nsp} if data is None else {
                "type": int(ptype), "data": data, "nsp": nsp
            }
        if ack_id is not None:
            if type(ack_id) is not int or not 0 <= ack_id <= MAX_ACK_ID:
                raise ValueError(f"ack id must be an int in [0, {MAX_ACK_ID}]: {ack_id!r}")
            obj["id"] = ack_id
        try:
            return (self._pack(obj),)
        except (TypeError, ValueError, OverflowError) as exc:
            raise TypeError(f"cannot send {_what(ptype, data)}: {exc}") from None

    def decoder(self, limits: DecoderLimits) -> MsgpackDecoder:
        return MsgpackDecoder(limits)

    def __repr__(self) -> str:
        return "MsgpackParser()"


def _what(ptype: PacketType, data: Any) -> str:
    if (ptype == EVENT or ptype == BINARY_EVENT) and data:
        return f"event {data[0]!r}"
    return "an ack" if ptype == ACK or ptype == BINARY_ACK else f"a {ptype.name} packet"


class MsgpackDecoder:
    """Decodes one binary message into one packet; holds nothing between messages."""

    __slots__ = ("_limits",)

    def __init__(self, limits: DecoderLimits | None = None) -> None:
        self._limits = limits if limits is not None else DecoderLimits()

    @property
    def limits(self) -> DecoderLimits:
        return self._limits

    def detach(self) -> MsgpackDecoder:
        return MsgpackDecoder(self._limits)  # never called: every message is a whole packet

    def reset(self) -> None:
        pass

    def receive(self, data: str | bytes | bytearray | memoryview) -> Packet:
        if type(data) is not bytes:
            if type(data) is str:
                raise DecodeError("text message: the msgpack parser reads binary messages only")
            if not isinstance(data, (bytearray, memoryview)):
                raise TypeError(f"expected str or bytes, not {type(data).__name__}")
            data = bytes(data)
        limits = self._limits
        # The packet's map is one level above its data.
        obj = unpack(data, limits.max_nesting + 1)
        if type(obj) is not dict:
            raise DecodeError("packet is not a map")
        number = obj.get("type")
        ptype = _TYPES.get(number) if type(number) is int else None
        if ptype is None:
            raise DecodeError("invalid packet type")
        nsp = obj.get("nsp")
        if type(nsp) is not str:
            raise DecodeError("invalid namespace")
        if len(nsp) > limits.max_namespace_length:
            raise DecodeError("namespace too long")
        ack_id = obj.get("id")
        if ack_id is not None and (type(ack_id) is not int or not 0 <= ack_id <= limits.max_ack_id):
            raise DecodeError("invalid packet id")
        payload = obj.get("data")
        if len(data) > limits.max_nesting and nests_deeper(payload, limits.max_nesting):
            raise DecodeError("payload nested too deeply")
        if ptype is EVENT:
            if type(payload) is not list or not payload:
                raise DecodeError("EVENT payload must be a non-empty array")
            name = payload[0]
            if type(name) is not str:
                raise DecodeError("event name must be a string")
            if name in RESERVED_EVENTS:
                raise DecodeError("reserved event name")
            return Packet(EVENT, nsp, payload, ack_id)
        if ptype is ACK:
            if type(payload) is not list:
                raise DecodeError("ACK payload must be an array")
            if ack_id is None:
                raise DecodeError("ACK without an id")
            return Packet(ACK, nsp, payload, ack_id)
        kind = type(payload)
        if ptype is CONNECT and payload is not None and kind is not dict:
            raise DecodeError("CONNECT payload must be a map")
        if ptype is DISCONNECT and payload is not None:
            raise DecodeError("DISCONNECT with a payload")
        if ptype is CONNECT_ERROR and kind is not dict and kind is not str:
            raise DecodeError("CONNECT_ERROR payload must be a map or a string")
        return Packet(ptype, nsp, payload)
