"""Engine.IO v4, Sans-I/O: packet codecs, request checks and the server session state machine."""

from tidings.protocol.engineio.events import (
    Closed,
    Event,
    MessageReceived,
    Upgraded,
    UpgradeFailed,
)
from tidings.protocol.engineio.packets import (
    SEPARATOR,
    EngineIOError,
    Packet,
    PacketType,
    decode_packet,
    decode_payload,
    encode_packet,
    encode_payload,
    encode_polling_packet,
)
from tidings.protocol.engineio.requests import ErrorCode, RequestError, check_request
from tidings.protocol.engineio.session import (
    POLLING,
    WEBSOCKET,
    Encoded,
    ServerSession,
    SessionConfig,
    State,
    encode_message,
)

__all__ = [
    "POLLING",
    "SEPARATOR",
    "WEBSOCKET",
    "Closed",
    "Encoded",
    "EngineIOError",
    "ErrorCode",
    "Event",
    "MessageReceived",
    "Packet",
    "PacketType",
    "RequestError",
    "ServerSession",
    "SessionConfig",
    "State",
    "UpgradeFailed",
    "Upgraded",
    "check_request",
    "decode_packet",
    "decode_payload",
    "encode_message",
    "encode_packet",
    "encode_payload",
    "encode_polling_packet",
]
