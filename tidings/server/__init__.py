"""The Socket.IO server: handlers, namespaces, sockets, rooms, broadcasts, acks."""

from tidings.adapters.base import SocketHandle
from tidings.errors import AckTimeoutError, ConnectionRefusedError, DisconnectedError
from tidings.server.handshake import Handshake
from tidings.server.journal import HistoryItem, RecoveryOptions
from tidings.server.namespace import Namespace
from tidings.server.operators import BroadcastOperator
from tidings.server.outgoing import Ack, EmitModifiers
from tidings.server.ratelimit import RateLimit, RateLimitCounts
from tidings.server.server import Server
from tidings.server.socket import Socket

__all__ = [
    "Ack",
    "AckTimeoutError",
    "BroadcastOperator",
    "ConnectionRefusedError",
    "DisconnectedError",
    "EmitModifiers",
    "Handshake",
    "HistoryItem",
    "Namespace",
    "RateLimit",
    "RateLimitCounts",
    "RecoveryOptions",
    "Server",
    "Socket",
    "SocketHandle",
]
