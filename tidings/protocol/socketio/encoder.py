"""Packet to wire text (plus binary attachments), as socket.io-parser writes it.

``<type>[<n attachments>-][<namespace>,][<ack id>][<JSON payload>]``

Shared by the server and the client. A packet that would be invalid on the wire
is local misuse, so ``encode`` raises ``TypeError``/``ValueError`` at once
rather than let the peer close the connection later.
"""

from __future__ import annotations

from typing import Any

from tidings.protocol.socketio.binary import deconstruct
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
    EncodedPacket,
    Packet,
    PacketType,
)
from tidings.serializers import Serializer

__all__ = ["encode"]


def encode(packet: Packet, serializer: Serializer) -> EncodedPacket:
    """The wire form of ``packet``.

    EVENT and ACK data holding ``bytes`` (anywhere in its lists and dicts) go
    out as BINARY_EVENT / BINARY_ACK with the bytes as attachments; the binary
    types given here are treated the same way. The serializer runs once for a
    packet without bytes (the common case); finding bytes costs one failed
    attempt and a walk, because the serializer refuses them with ``TypeError``.
    """
    ptype = packet.type
    nsp = packet.namespace
    data = packet.data
    ack_id = packet.id

    if ptype == EVENT or ptype == BINARY_EVENT:
        if (type(data) is not list and type(data) is not tuple) or not data:
            raise TypeError("an EVENT needs a non-empty list: the event name, then its arguments")
        name = data[0]
        if type(name) is not str:
            raise TypeError(f"event name must be a str, not {type(name).__name__}")
        if name in RESERVED_EVENTS:
            raise ValueError(f"{name!r} is a reserved event name")
        try:
            body = serializer.dumps(data)
        except TypeError as exc:
            return _encode_binary(BINARY_EVENT, nsp, ack_id, data, serializer, exc)
        if nsp == "/" and ack_id is None:
            return EncodedPacket("2" + body)
        return EncodedPacket("2" + _head(nsp, ack_id) + body)

    if ptype == ACK or ptype == BINARY_ACK:
        if type(data) is not list and type(data) is not tuple:
            raise TypeError("an ACK needs a list of arguments (possibly empty)")
        if ack_id is None:
            raise ValueError("an ACK needs the id of the packet it acknowledges")
        try:
            body = serializer.dumps(data)
        except TypeError as exc:
            return _encode_binary(BINARY_ACK, nsp, ack_id, data, serializer, exc)
        return EncodedPacket("3" + _head(nsp, ack_id) + body)

    if ack_id is not None:
        raise ValueError(f"only EVENT and ACK packets carry an id, not {ptype!r}")
    prefix = _namespace(nsp)
    if ptype == CONNECT:
        if data is None:
            return EncodedPacket("0" + prefix)
        if type(data) is not dict:
            raise TypeError("CONNECT data must be a dict (or None)")
        return EncodedPacket("0" + prefix + serializer.dumps(data))
    if ptype == DISCONNECT:
        if data is not None:
            raise TypeError("a DISCONNECT carries no data")
        return EncodedPacket("1" + prefix)
    if ptype == CONNECT_ERROR:
        if type(data) is not dict and type(data) is not str:
            raise TypeError('CONNECT_ERROR data must be a dict such as {"message": ...} (or a str)')
        return EncodedPacket("4" + prefix + serializer.dumps(data))
    raise ValueError(f"unknown packet type {ptype!r}")


def _namespace(nsp: str) -> str:
    if nsp == "/":
        return ""
    if type(nsp) is not str:
        raise TypeError(f"namespace must be a str, not {type(nsp).__name__}")
    if not nsp.startswith("/") or "," in nsp:
        raise ValueError(f"namespace must be a str starting with '/' and without ',': {nsp!r}")
    return nsp + ","


def _head(nsp: str, ack_id: int | None) -> str:
    prefix = _namespace(nsp)
    if ack_id is None:
        return prefix
    if type(ack_id) is not int or not 0 <= ack_id <= MAX_ACK_ID:
        raise ValueError(f"ack id must be an int in [0, {MAX_ACK_ID}]: {ack_id!r}")
    return prefix + str(ack_id)


def _encode_binary(
    ptype: PacketType,
    nsp: str,
    ack_id: int | None,
    data: Any,
    serializer: Serializer,
    refused: TypeError,
) -> EncodedPacket:
    try:
        stripped, attachments = deconstruct(data)
        if not attachments:
            raise refused  # the serializer refused something other than bytes
        body = serializer.dumps(stripped)
    except TypeError as exc:
        raise _refusal(ptype, data, serializer, exc) from None
    head = _head(nsp, ack_id)
    return EncodedPacket(f"{ptype:d}{len(attachments)}-{head}{body}", attachments)


def _refusal(ptype: PacketType, data: Any, serializer: Serializer, exc: TypeError) -> TypeError:
    """The error for data the serializer refused, naming the event and the argument (the
    failure path only: each argument is tried alone to find the culprit)."""
    event = ptype == BINARY_EVENT
    what = f"event {data[0]!r}" if event else "an ack"
    for index, arg in enumerate(data[1:] if event else data):
        try:
            serializer.dumps(deconstruct([arg])[0][0])
        except (TypeError, ValueError) as arg_exc:
            return TypeError(f"cannot send argument {index + 1} of {what} ({type(arg).__name__}): {arg_exc}")
    return TypeError(f"cannot send {what}: {exc}")
