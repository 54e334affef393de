"""tidings: real-time, event-based, bidirectional messaging, wire-compatible with Socket.IO."""

from typing import TYPE_CHECKING, Any

from tidings.adapters.base import SlowConsumer
from tidings.asgi import ASGIApp
from tidings.engine.compression import HttpCompression
from tidings.engine.hooks import Cookie, RefusedRequest
from tidings.errors import AckTimeoutError, ConnectionRefusedError, DisconnectedError
from tidings.protocol.websocket.deflate import DeflateOptions
from tidings.server import (
    Ack,
    BroadcastOperator,
    Handshake,
    HistoryItem,
    Namespace,
    RateLimit,
    RecoveryOptions,
    Server,
    Socket,
    SocketHandle,
)
from tidings.websocket_routes import WebSocket, WebSocketClosed, WebSocketOptions, WebSocketRoutes

if TYPE_CHECKING:
    from tidings.client import Client, SyncClient
    from tidings.emitter import Emitter

__version__ = "0.1.0"

__all__ = [
    "ASGIApp",
    "Ack",
    "AckTimeoutError",
    "BroadcastOperator",
    "Client",
    "ConnectionRefusedError",
    "Cookie",
    "DeflateOptions",
    "DisconnectedError",
    "Emitter",
    "Handshake",
    "HistoryItem",
    "HttpCompression",
    "Namespace",
    "RateLimit",
    "RecoveryOptions",
    "RefusedRequest",
    "Server",
    "SlowConsumer",
    "Socket",
    "SocketHandle",
    "SyncClient",
    "WebSocket",
    "WebSocketClosed",
    "WebSocketOptions",
    "WebSocketRoutes",
    "__version__",
]


def __getattr__(name: str) -> Any:
    # The client needs the optional aiohttp: imported only when asked for.
    if name == "Client":
        from tidings.client import Client

        return Client
    if name == "SyncClient":
        from tidings.client import SyncClient

        return SyncClient
    if name == "Emitter":  # needs the optional redis client
        from tidings.emitter import Emitter

        return Emitter
    raise AttributeError(f"module 'tidings' has no attribute {name!r}")
