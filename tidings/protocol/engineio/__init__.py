"""Engine.IO v4, Sans-I/O: packet codecs, request checks and the session state machines."""

from tidings.protocol.engineio.client_session import (
    ClientEvent,
    ClientSession,
    ClientSessionState,
    Opened,
    Pinged,
    parse_handshake,
)
from tidings.protocol.engineio.events import (
    Closed,
    Event,
    MessageReceived,
    Upgraded,
    UpgradeFailed,
)
from tidings.protocol.engineio.packets import (
    SEPARATOR,
    Encoded,
    EngineIOError,
    Packet,
    PacketType,
    decode_packet,
    decode_payload,
    encode_message,
    encode_packet,
    encode_payload,
    encode_polling_packet,
    message_packet,
)
from tidings.protocol.engineio.requests import ErrorCode, RequestError, check_request
from tidings.protocol.engineio.session import ServerSession, ServerSessionState, SessionConfig
from tidings.protocol.engineio.session_base import POLLING, WEBSOCKET

__all__ = [
    "POLLING",
    "SEPARATOR",
    "WEBSOCKET",
    "ClientEvent",
    "ClientSession",
    "ClientSessionState",
    "Closed",
    "Encoded",
    "EngineIOError",
    "ErrorCode",
    "Event",
    "MessageReceived",
    "Opened",
    "Packet",
    "PacketType",
    "Pinged",
    "RequestError",
    "ServerSession",
    "ServerSessionState",
    "SessionConfig",
    "UpgradeFailed",
    "Upgraded",
    "check_request",
    "decode_packet",
    "decode_payload",
    "encode_message",
    "encode_packet",
    "encode_payload",
    "encode_polling_packet",
    "message_packet",
    "parse_handshake",
]
