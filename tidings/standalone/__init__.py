"""The built-in asyncio HTTP/1.1 + WebSocket server (uvloop when installed)."""

from tidings.standalone.options import ServerOptions
from tidings.standalone.server import Server, run, serve

__all__ = ["Server", "ServerOptions", "run", "serve"]
