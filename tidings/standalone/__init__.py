"""The built-in asyncio HTTP/1.1 + WebSocket server (uvloop when installed)."""

from tidings.standalone.http_server import HttpServer, run, serve
from tidings.standalone.options import HttpOptions

__all__ = ["HttpOptions", "HttpServer", "run", "serve"]
