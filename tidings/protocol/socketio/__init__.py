"""Socket.IO v5 packet codec, Sans-I/O: no asyncio, no sockets, no clock.

``encode`` turns a ``Packet`` into wire text plus binary attachments; a
``Decoder`` per connection turns wire messages back into packets and raises
``DecodeError`` for anything a peer should not have sent. A ``Parser`` wraps such a
codec for the server and client: ``JsonParser`` (this one, the default),
``msgpack_parser.MsgpackParser`` (socket.io-msgpack-parser's format), or the user's own.
"""

from tidings.protocol.socketio.acks import ack_args, ack_value
from tidings.protocol.socketio.binary import (
    deconstruct,
    has_binary,
    is_binary,
    is_placeholder,
    placeholder,
)
from tidings.protocol.socketio.decoder import Decoder, DecoderLimits
from tidings.protocol.socketio.encoder import encode
from tidings.protocol.socketio.errors import DecodeError
from tidings.protocol.socketio.packets import (
    MAX_ACK_ID,
    MAX_NESTING,
    RESERVED_EVENTS,
    EncodedPacket,
    Packet,
    PacketType,
)
from tidings.protocol.socketio.parser import (
    JsonParser,
    PacketDecoder,
    Parser,
    ParserChoice,
    resolve_parser,
)
from tidings.serializers import JsonSerializer, OrjsonSerializer, Serializer, default_serializer

__all__ = [
    "MAX_ACK_ID",
    "MAX_NESTING",
    "RESERVED_EVENTS",
    "DecodeError",
    "Decoder",
    "DecoderLimits",
    "EncodedPacket",
    "JsonParser",
    "JsonSerializer",
    "OrjsonSerializer",
    "Packet",
    "PacketDecoder",
    "PacketType",
    "Parser",
    "ParserChoice",
    "Serializer",
    "ack_args",
    "ack_value",
    "deconstruct",
    "default_serializer",
    "encode",
    "has_binary",
    "is_binary",
    "is_placeholder",
    "placeholder",
    "resolve_parser",
]
