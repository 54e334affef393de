"""The parser interface: how Socket.IO packets become Engine.IO messages and back.

A parser is chosen per server (or client), as Node's ``parser`` option is, and both ends
must use the same one. ``JsonParser`` is socket.io-parser's format (the default: text, with
each binary value as an attachment of its own); ``MsgpackParser`` is socket.io-msgpack-parser's.
Anything with ``encode`` and ``decoder`` as below is a parser too. Sans-I/O.
"""

from __future__ import annotations

from typing import Literal, Protocol

from tidings.protocol.socketio.decoder import Decoder, DecoderLimits
from tidings.protocol.socketio.encoder import encode
from tidings.protocol.socketio.packets import Packet
from tidings.serializers import OrjsonSerializer, Serializer

__all__ = ["JsonParser", "PacketDecoder", "Parser", "ParserChoice", "resolve_parser"]


class PacketDecoder(Protocol):
    """Reads the messages of one connection, in order (made by ``Parser.decoder``)."""

    def receive(self, data: str | bytes) -> Packet | None:
        """The packet ``data`` completes, or None while the packet needs more messages.

        Raises ``DecodeError`` for anything the peer should not have sent (the connection is
        then closed with "parse error"). EVENT and ACK come back as ``PacketType.EVENT`` and
        ``PacketType.ACK`` with their ``bytes`` in place, never as the BINARY_* types.
        """
        ...

    def detach(self) -> PacketDecoder:
        """A decoder that takes over the packet in progress (``receive`` returned None);
        this one starts afresh. The server shares one decoder among its connections and
        calls this for the rare connection in the middle of a packet."""
        ...

    def reset(self) -> None:
        """Drop any packet in progress."""
        ...


class Parser(Protocol):
    """A Socket.IO codec: packets to Engine.IO messages, and a decoder per connection."""

    def encode(self, packet: Packet) -> tuple[str | bytes, ...]:
        """The messages ``packet`` travels as, in order (``str``: text, ``bytes``: binary).

        Called once per broadcast, whatever the number of recipients. Raises ``TypeError``
        or ``ValueError`` for a packet or data that cannot be sent (local misuse).
        """
        ...

    def decoder(self, limits: DecoderLimits) -> PacketDecoder:
        """A new decoder, within ``limits`` (those that apply to this format)."""
        ...


class JsonParser:
    """The default: socket.io-parser's text format, JSON through ``serializer``.

    Binary values leave the JSON as placeholders and travel as binary messages of their own,
    each sent as is (``bytes``: no copy).
    """

    __slots__ = ("serializer",)

    def __init__(self, serializer: Serializer | None = None) -> None:
        self.serializer: Serializer = serializer if serializer is not None else OrjsonSerializer()

    def encode(self, packet: Packet) -> tuple[str | bytes, ...]:
        encoded = encode(packet, self.serializer)
        attachments = encoded.attachments
        if attachments:
            return (encoded.text, *attachments)
        return (encoded.text,)

    def decoder(self, limits: DecoderLimits) -> Decoder:
        return Decoder(self.serializer, limits)

    def __repr__(self) -> str:
        return f"JsonParser({type(self.serializer).__name__}())"


#: What ``parser=`` takes: "default", "msgpack", or a ``Parser`` object.
ParserChoice = Literal["default", "msgpack"] | Parser


def resolve_parser(parser: ParserChoice | None, serializer: Serializer | None) -> Parser:
    """The parser that ``parser=`` names. ``serializer`` is the JSON parser's serializer."""
    if parser is None:
        return JsonParser(serializer)
    if isinstance(parser, str):
        if parser == "default":
            return JsonParser(serializer)
        if parser == "msgpack":
            from tidings.protocol.socketio.msgpack_parser import MsgpackParser

            return MsgpackParser()
        raise ValueError(f'parser must be "default", "msgpack" or a parser object, not {parser!r}')
    if not callable(getattr(parser, "encode", None)) or not callable(getattr(parser, "decoder", None)):
        raise TypeError(f"a parser needs encode() and decoder() methods: {parser!r}")
    return parser
