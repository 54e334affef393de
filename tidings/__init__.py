"""tidings: real-time, event-based, bidirectional messaging, wire-compatible with Socket.IO."""

from tidings.server import (
    AckTimeoutError,
    BroadcastOperator,
    ConnectionRefusedError,
    DisconnectedError,
    Handshake,
    Namespace,
    Server,
    Socket,
)

__version__ = "0.1.0"

__all__ = [
    "AckTimeoutError",
    "BroadcastOperator",
    "ConnectionRefusedError",
    "DisconnectedError",
    "Handshake",
    "Namespace",
    "Server",
    "Socket",
    "__version__",
]
