"""Engine.IO v4 packets and their two wire encodings, Sans-I/O.

WebSocket carries one packet per message, binary as raw bytes; long-polling
joins packets with the record separator and carries binary as ``b`` + base64.
"""

from __future__ import annotations

import binascii
import enum
from base64 import b64decode, b64encode
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "SEPARATOR",
    "Encoded",
    "EngineIOError",
    "Packet",
    "PacketType",
    "decode_packet",
    "decode_payload",
    "encode_message",
    "encode_packet",
    "encode_payload",
    "encode_polling_packet",
    "message_packet",
]

SEPARATOR = "\x1e"


class EngineIOError(ValueError):
    """Input from the peer that is not valid Engine.IO."""


class PacketType(enum.IntEnum):
    OPEN = 0
    CLOSE = 1
    PING = 2
    PONG = 3
    MESSAGE = 4
    UPGRADE = 5
    NOOP = 6


# Index = the character after which a packet's data starts; the lookup avoids int().
_TYPE_BY_CHAR: dict[str, PacketType] = {str(int(t)): t for t in PacketType}
_CHAR_BY_TYPE: dict[PacketType, str] = {t: c for c, t in _TYPE_BY_CHAR.items()}


@dataclass(frozen=True, slots=True)
class Packet:
    type: PacketType
    data: str | bytes = ""

    def __post_init__(self) -> None:
        if not isinstance(self.type, PacketType):
            raise TypeError(f"packet type must be a PacketType, not {self.type!r}")
        if isinstance(self.data, bytes):
            if self.type is not PacketType.MESSAGE:
                raise ValueError("only MESSAGE packets may carry binary data")
        elif not isinstance(self.data, str):
            raise TypeError(f"packet data must be str or bytes, not {type(self.data).__name__}")


def encode_packet(packet: Packet) -> str | bytes:
    """One WebSocket message: ``"4hello"``; a binary MESSAGE is its bytes, unprefixed."""
    data = packet.data
    if isinstance(data, bytes):
        return data
    return _CHAR_BY_TYPE[packet.type] + data


def encode_polling_packet(packet: Packet) -> str:
    """One packet as it appears inside a long-polling payload."""
    data = packet.data
    if isinstance(data, bytes):
        return "b" + b64encode(data).decode("ascii")
    return _CHAR_BY_TYPE[packet.type] + data


#: A packet encoded for both transports: (WebSocket message, long-polling segment).
#: Text packets use the same string for both.
Encoded = tuple[str | bytes, str]


def message_packet(data: str | bytes) -> Packet:
    """A MESSAGE packet; ``TypeError`` for data that is neither text nor bytes (local misuse)."""
    if isinstance(data, str):
        return Packet(PacketType.MESSAGE, data)
    if isinstance(data, (bytes, bytearray, memoryview)):
        return Packet(PacketType.MESSAGE, bytes(data))
    raise TypeError(f"an Engine.IO message is str or bytes, not {type(data).__name__}")


def encode_message(data: str | bytes) -> Encoded:
    """A MESSAGE packet for both transports (text without building a ``Packet``)."""
    if isinstance(data, str):
        text = "4" + data
        return (text, text)
    packet = message_packet(data)
    return (encode_packet(packet), encode_polling_packet(packet))


def decode_packet(data: str | bytes) -> Packet:
    """One packet from a WebSocket message or a payload segment. Raises ``EngineIOError``."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        return Packet(PacketType.MESSAGE, bytes(data))
    if not data:
        raise EngineIOError("empty packet")
    head = data[0]
    if head == "b":
        try:
            raw = b64decode(data[1:], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise EngineIOError("invalid base64 in binary packet") from exc
        return Packet(PacketType.MESSAGE, raw)
    ptype = _TYPE_BY_CHAR.get(head)
    if ptype is None:
        raise EngineIOError(f"unknown packet type {head!r}")
    return Packet(ptype, data[1:])


def encode_payload(packets: Iterable[Packet]) -> str:
    """Packets for one long-polling body.

    As in Node, a text packet containing the separator is not escaped; Socket.IO
    never produces one (JSON escapes control characters).
    """
    return SEPARATOR.join([encode_polling_packet(p) for p in packets])


def decode_payload(text: str) -> list[Packet]:
    """Every packet of a long-polling body, or ``EngineIOError`` if any is invalid."""
    if not isinstance(text, str):
        raise TypeError("a payload is text")
    return [decode_packet(segment) for segment in text.split(SEPARATOR)]
