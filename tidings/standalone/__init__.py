"""The built-in asyncio HTTP/1.1 + WebSocket server (uvloop when installed)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tidings.standalone.handoff import HandoffOptions, PeerDirectory
from tidings.standalone.http_server import HttpServer, run, serve
from tidings.standalone.options import HttpOptions

if TYPE_CHECKING:
    from tidings.standalone.redis_peers import RedisPeerDirectory

__all__ = [
    "HandoffOptions",
    "HttpOptions",
    "HttpServer",
    "PeerDirectory",
    "RedisPeerDirectory",
    "run",
    "serve",
]


def __getattr__(name: str) -> Any:
    # Redis is an optional dependency: imported when this name is first asked for.
    if name == "RedisPeerDirectory":
        from tidings.standalone.redis_peers import RedisPeerDirectory

        return RedisPeerDirectory
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
