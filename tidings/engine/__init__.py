"""The Engine.IO server over asyncio; I/O layers reach it through ``tidings.engine.io``."""

from tidings.engine.compression import HttpCompression
from tidings.engine.context import SocketContext
from tidings.engine.handler import CallbackHandler, EngineHandler
from tidings.engine.hooks import Cookie, RefusedRequest
from tidings.engine.io import (
    HttpRequest,
    HttpResponse,
    PreparedFrames,
    WebSocketListener,
    WebSocketTransport,
)
from tidings.engine.options import CorsOrigins, EngineOptions
from tidings.engine.owner import check_owner, owner_of
from tidings.engine.server import EngineServer
from tidings.engine.socket import EngineSocket
from tidings.protocol.prepared import PreparedMessage

__all__ = [
    "CallbackHandler",
    "Cookie",
    "CorsOrigins",
    "EngineHandler",
    "EngineOptions",
    "EngineServer",
    "EngineSocket",
    "HttpCompression",
    "HttpRequest",
    "HttpResponse",
    "PreparedFrames",
    "PreparedMessage",
    "RefusedRequest",
    "SocketContext",
    "WebSocketListener",
    "WebSocketTransport",
    "check_owner",
    "owner_of",
]
