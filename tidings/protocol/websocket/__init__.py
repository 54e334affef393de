"""RFC 6455 WebSocket, server side, Sans-I/O: handshake checks, frames, the connection state machine."""

from tidings.protocol.websocket.connection import DEFAULT_MAX_FRAGMENTS, ServerConnection
from tidings.protocol.websocket.events import (
    BinaryMessage,
    Closed,
    Event,
    InvalidState,
    Ping,
    Pong,
    ProtocolError,
    TextMessage,
    WebSocketState,
)
from tidings.protocol.websocket.frames import (
    CloseCode,
    Opcode,
    apply_mask,
    encode_close,
    encode_frame,
    is_valid_close_code,
    py_apply_mask,
)
from tidings.protocol.websocket.handshake import (
    HandshakeError,
    accept_key,
    accept_response,
    is_upgrade_request,
    validate_upgrade,
)

__all__ = [
    "DEFAULT_MAX_FRAGMENTS",
    "BinaryMessage",
    "CloseCode",
    "Closed",
    "Event",
    "HandshakeError",
    "InvalidState",
    "Opcode",
    "Ping",
    "Pong",
    "ProtocolError",
    "ServerConnection",
    "TextMessage",
    "WebSocketState",
    "accept_key",
    "accept_response",
    "apply_mask",
    "encode_close",
    "encode_frame",
    "is_upgrade_request",
    "is_valid_close_code",
    "py_apply_mask",
    "validate_upgrade",
]
