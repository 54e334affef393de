"""Socket.IO v5 packets as values.

A decoded binary packet comes back as EVENT or ACK with its ``bytes`` in place,
and the encoder picks BINARY_EVENT / BINARY_ACK itself when the data holds
bytes, so callers only ever build the four plain kinds plus CONNECT_ERROR.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ACK",
    "BINARY_ACK",
    "BINARY_EVENT",
    "CONNECT",
    "CONNECT_ERROR",
    "DISCONNECT",
    "EVENT",
    "MAX_ACK_ID",
    "MAX_NESTING",
    "RESERVED_EVENTS",
    "EncodedPacket",
    "Packet",
    "PacketType",
]


class PacketType(enum.IntEnum):
    CONNECT = 0
    DISCONNECT = 1
    EVENT = 2
    ACK = 3
    CONNECT_ERROR = 4
    BINARY_EVENT = 5
    BINARY_ACK = 6


# The members as module globals, for the encoder's and decoder's per-packet tests: a global
# read costs a tenth of an enum attribute lookup.
CONNECT = PacketType.CONNECT
DISCONNECT = PacketType.DISCONNECT
EVENT = PacketType.EVENT
ACK = PacketType.ACK
CONNECT_ERROR = PacketType.CONNECT_ERROR
BINARY_EVENT = PacketType.BINARY_EVENT
BINARY_ACK = PacketType.BINARY_ACK

#: The largest ack id, the largest a JavaScript peer reads back exactly (Number.MAX_SAFE_INTEGER):
#: the encoder refuses more, and it is the decoder's default limit.
MAX_ACK_ID = 2**53 - 1
#: The deepest nesting of arrays and objects a payload may have: what the encoder can write
#: back (orjson's limit), so whatever a peer sends can be echoed in an ack.
MAX_NESTING = 254

# Names with a meaning of their own on either side: a peer cannot emit them.
RESERVED_EVENTS: frozenset[str] = frozenset(
    {"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"}
)


@dataclass(frozen=True, slots=True, init=False)
class Packet:
    """One Socket.IO packet.

    ``data``: for CONNECT an optional dict (the auth payload, or ``{"sid": ...}``
    in the reply); for EVENT a list, event name first; for ACK a list; for
    CONNECT_ERROR a dict such as ``{"message": ..., "data": ...}`` (or a str
    from old servers); for DISCONNECT nothing. ``bytes`` may sit anywhere in
    the lists and dicts of an EVENT or ACK. ``id`` is the acknowledgement id.
    """

    type: PacketType
    namespace: str
    data: Any
    id: int | None

    def __init__(
        self, type: PacketType, namespace: str = "/", data: Any = None, id: int | None = None
    ) -> None:
        # The generated __init__ of a frozen dataclass assigns through
        # object.__setattr__; writing the slots directly builds a packet in about
        # half the time, and packets are built for every message.
        _set_type(self, type)
        _set_namespace(self, namespace)
        _set_data(self, data)
        _set_id(self, id)


@dataclass(frozen=True, slots=True, init=False)
class EncodedPacket:
    """What goes on the wire: one text message, then each attachment as a binary message."""

    text: str
    attachments: tuple[bytes, ...]

    def __init__(self, text: str, attachments: tuple[bytes, ...] = ()) -> None:
        _set_text(self, text)
        _set_attachments(self, attachments)


def _slot_setter(cls: type, name: str) -> Callable[[Any, Any], None]:
    """Writes slot ``name`` directly, as the frozen-dataclass machinery does, minus its overhead."""
    setter: Callable[[Any, Any], None] = vars(cls)[name].__set__
    return setter


_set_type = _slot_setter(Packet, "type")
_set_namespace = _slot_setter(Packet, "namespace")
_set_data = _slot_setter(Packet, "data")
_set_id = _slot_setter(Packet, "id")
_set_text = _slot_setter(EncodedPacket, "text")
_set_attachments = _slot_setter(EncodedPacket, "attachments")
