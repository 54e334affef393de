"""Wire messages to packets, checked as strictly as socket.io-parser checks them.

Stateful only because a binary packet arrives as one text message followed by
its attachments, each a binary message of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tidings.protocol.socketio.binary import (
    BINARY_TYPES,
    PlaceholderSlot,
    fill_placeholders,
    find_placeholders,
)
from tidings.protocol.socketio.errors import DecodeError
from tidings.protocol.socketio.packets import (
    ACK,
    BINARY_ACK,
    BINARY_EVENT,
    CONNECT,
    CONNECT_ERROR,
    DISCONNECT,
    EVENT,
    MAX_ACK_ID,
    MAX_NESTING,
    RESERVED_EVENTS,
    Packet,
    PacketType,
)
from tidings.serializers import Serializer

__all__ = ["DecodeError", "Decoder", "DecoderLimits"]

_TYPES = {str(int(t)): t for t in PacketType}
_DIGITS = frozenset("0123456789")
_PAYLOAD_STARTS = frozenset('[{"')


@dataclass(frozen=True, slots=True)
class DecoderLimits:
    """Bounds on what a peer may make the decoder hold or walk.

    ``max_attachments``: attachments per binary packet (the reference parser's
    default, 10). ``max_ack_id``: the largest ack id, by default the largest a
    JavaScript peer can count to exactly. ``max_depth``: container nesting
    allowed in a binary packet's payload, which is walked for placeholders.
    ``max_namespace_length``: characters in a namespace name.
    """

    max_attachments: int = 10
    max_ack_id: int = MAX_ACK_ID
    max_depth: int = 32
    max_namespace_length: int = 256
    max_nesting: int = MAX_NESTING
    """Nesting of arrays and objects in any payload; more is refused, as the encoder could
    not send it back."""

    def __post_init__(self) -> None:
        if type(self.max_nesting) is not int or not 1 <= self.max_nesting <= MAX_NESTING:
            raise ValueError(f"max_nesting must be an int from 1 to {MAX_NESTING}")
        for name in ("max_attachments", "max_depth", "max_namespace_length"):
            value = getattr(self, name)
            if type(value) is not int or value < 1:
                raise ValueError(f"{name} must be a positive int, not {value!r}")
        if type(self.max_ack_id) is not int or self.max_ack_id < 0:
            raise ValueError(f"max_ack_id must be a non-negative int, not {self.max_ack_id!r}")


def _too_deep(text: str, payload: Any, limit: int) -> bool:
    """Whether ``payload`` (parsed from ``text``) nests deeper than ``limit``. A text with no
    more than ``limit`` opening brackets cannot, so most payloads cost two C-level counts."""
    if len(text) <= 2 * limit or text.count("[") + text.count("{") <= limit:
        return False
    return nests_deeper(payload, limit)


def nests_deeper(payload: Any, limit: int) -> bool:
    """Whether lists and dicts in ``payload`` nest deeper than ``limit`` (every parser's
    check, so that what is accepted can be encoded back)."""
    stack = [(payload, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        children = node if type(node) is list else node.values() if type(node) is dict else ()
        for child in children:
            if type(child) is list or type(child) is dict:
                stack.append((child, depth + 1))
    return False


def _check_event(payload: Any) -> None:
    """An EVENT's payload: a non-empty array whose first item names an event we may receive."""
    if type(payload) is not list or not payload:
        raise DecodeError("EVENT payload must be a non-empty array")
    name = payload[0]
    if type(name) is not str:
        raise DecodeError("event name must be a string")
    if name in RESERVED_EVENTS:
        raise DecodeError("reserved event name")


class Decoder:
    """Feeds on the messages of one connection, in order; yields whole packets.

    ``receive`` returns ``None`` while a binary packet still waits for
    attachments. Any bad input raises ``DecodeError`` (after dropping any
    partial packet); the decoder is not meant to be used after that, as the
    connection should close.

    A binary packet is returned as EVENT or ACK with its ``bytes`` in place.
    Every packet type is accepted, so both sides can share this class: the
    server should treat a CONNECT_ERROR from a client as a protocol error.
    """

    __slots__ = (
        "_buffers",
        "_count_digits",
        "_expected",
        "_id_digits",
        "_limits",
        "_loads",
        "_partial",
        "_slots",
    )

    def __init__(self, serializer: Serializer, limits: DecoderLimits | None = None) -> None:
        self._loads = serializer.loads
        self._limits = limits = limits if limits is not None else DecoderLimits()
        self._id_digits = len(str(limits.max_ack_id))
        self._count_digits = len(str(limits.max_attachments))
        self._partial: Packet | None = None
        self._expected = 0
        self._slots: list[PlaceholderSlot] = []
        self._buffers: list[bytes] = []

    @property
    def limits(self) -> DecoderLimits:
        return self._limits

    @property
    def awaiting_attachments(self) -> int:
        """How many attachments the packet in progress still needs (0 if none)."""
        return self._expected - len(self._buffers) if self._partial is not None else 0

    def detach(self) -> Decoder:
        """A new decoder holding the binary packet in progress; this one starts afresh.

        Lets one decoder serve many connections for text packets (they leave no state),
        with a private one made only while some connection's attachments are due.
        """
        other = Decoder.__new__(Decoder)
        other._loads = self._loads
        other._limits = self._limits
        other._id_digits = self._id_digits
        other._count_digits = self._count_digits
        other._partial = self._partial
        other._expected = self._expected
        other._slots = self._slots
        other._buffers = self._buffers
        self._partial = None
        self._expected = 0
        self._slots = []
        self._buffers = []
        return other

    def reset(self) -> None:
        """Drop any partially received binary packet."""
        self._partial = None
        self._expected = 0
        self._slots = []
        self._buffers = []

    def receive(self, data: str | bytes | bytearray | memoryview) -> Packet | None:
        """The packet ``data`` completes, or ``None`` if attachments are still due.

        ``data`` is one Engine.IO message: ``str`` for text, bytes-like for
        binary (kept as ``bytes``). Anything else is local misuse and raises
        ``TypeError``.
        """
        if type(data) is str:
            if data[:1] == "2" and self._partial is None:
                # The commonest packet, an EVENT on "/" (``2`` [ack id] ``[...]``), in few
                # steps; anything else about it (a namespace, a bad id) takes the general path.
                start = data.find("[", 1, 2 + self._id_digits)
                if start > 0:
                    head = data[1:start]
                    if not head or (head.isdigit() and head.isascii()):
                        ack_id = int(head) if head else None
                        if ack_id is None or ack_id <= self._limits.max_ack_id:
                            try:
                                args = self._loads(data[start:])
                            except (ValueError, RecursionError):
                                raise DecodeError("payload is not valid JSON") from None
                            _check_event(args)
                            limit = self._limits.max_nesting
                            if len(data) > 2 * limit and _too_deep(data, args, limit):
                                raise DecodeError("payload nested too deeply")
                            return Packet(EVENT, "/", args, ack_id)
            return self.receive_text(data)
        if isinstance(data, BINARY_TYPES):
            partial = self._partial
            if partial is None:
                raise DecodeError("binary message with no binary packet expecting it")
            buffers = self._buffers
            buffers.append(data if type(data) is bytes else bytes(data))
            if len(buffers) < self._expected:
                return None
            fill_placeholders(self._slots, buffers)
            self.reset()
            return partial
        raise TypeError(f"expected str or bytes, not {type(data).__name__}")

    def receive_text(self, text: str) -> Packet | None:
        """A text message by the general path, which takes every packet type.

        ``receive`` tries a short path for an EVENT on "/" first; a property test
        holds the two equal. Called by ``receive``, and by that test.
        """
        if self._partial is not None:
            self.reset()
            raise DecodeError("text message while binary attachments are pending")
        end = len(text)
        if not end:
            raise DecodeError("empty packet")
        ptype = _TYPES.get(text[0])
        if ptype is None:
            raise DecodeError("unknown packet type")
        i = 1
        attachments = 0
        if ptype == BINARY_EVENT or ptype == BINARY_ACK:
            dash = text.find("-", 1, 2 + self._count_digits)
            count = text[1:dash]
            if dash < 0 or not count.isdigit() or not count.isascii():
                raise DecodeError("invalid attachment count")
            attachments = int(count)
            if not 1 <= attachments <= self._limits.max_attachments:
                raise DecodeError("attachment count out of range")
            i = dash + 1

        namespace = "/"
        if i < end and text[i] == "/":
            comma = text.find(",", i)
            if comma < 0:
                namespace = text[i:]
                i = end
            else:
                namespace = text[i:comma]
                i = comma + 1
            if len(namespace) > self._limits.max_namespace_length:
                raise DecodeError("namespace too long")

        ack_id = None
        if i < end and text[i] in _DIGITS:
            j = i + 1
            limit = min(end, i + self._id_digits + 1)
            while j < limit and text[j] in _DIGITS:
                j += 1
            if j - i > self._id_digits:
                raise DecodeError("ack id too long")
            ack_id = int(text[i:j])
            if ack_id > self._limits.max_ack_id:
                raise DecodeError("ack id too large")
            i = j

        if i < end:
            if ptype == DISCONNECT:
                raise DecodeError("DISCONNECT with a payload")
            # Every valid payload is an object, array or string. Anything else
            # (whitespace included, which the reference reads as ack id 0) is refused.
            if text[i] not in _PAYLOAD_STARTS:
                raise DecodeError("invalid payload")
            try:
                payload: Any = self._loads(text[i:])
            except (ValueError, RecursionError):
                raise DecodeError("payload is not valid JSON") from None
            if _too_deep(text, payload, self._limits.max_nesting):
                raise DecodeError("payload nested too deeply")
        else:
            payload = None
            if ptype != CONNECT and ptype != DISCONNECT:
                raise DecodeError(f"{ptype.name} without a payload")

        if ptype == EVENT or ptype == BINARY_EVENT:
            _check_event(payload)
            plain = EVENT
        elif ptype == ACK or ptype == BINARY_ACK:
            if type(payload) is not list:
                raise DecodeError("ACK payload must be an array")
            if ack_id is None:
                raise DecodeError("ACK without an id")
            plain = ACK
        else:
            if ack_id is not None:
                raise DecodeError(f"{ptype.name} with an ack id")
            kind = type(payload)
            if ptype == CONNECT and payload is not None and kind is not dict:
                raise DecodeError("CONNECT payload must be an object")
            if ptype == CONNECT_ERROR and kind is not dict and kind is not str:
                raise DecodeError("CONNECT_ERROR payload must be an object or a string")
            return Packet(ptype, namespace, payload)

        packet = Packet(plain, namespace, payload, ack_id)
        if not attachments:
            return packet
        self._slots = find_placeholders(payload, attachments, self._limits.max_depth)
        self._partial = packet
        self._expected = attachments
        return None
