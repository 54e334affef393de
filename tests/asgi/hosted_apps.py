"""Apps that are not a ``tidings.Server``, hosted alike by the built-in server and ASGIApp.

Each ``*_asgi`` factory is loaded by uvicorn (``--factory``) in its own process; the
tests hand the object it wraps to ``tidings.standalone.serve`` in theirs.

- ``echo_routes``: ``WebSocketRoutes`` alone, one echo route and no engine.
- ``EngineSite``: an app with an ``.engine`` and its own ``.static_files`` (the
  directory in ``TIDINGS_ASGI_STATIC``), and no ``startup`` or ``shutdown``: a server
  falls back to the engine's. ``engine_site_asgi`` records, once the lifespan shutdown
  is done, how the engine then answers a handshake (``TIDINGS_ASGI_EVENTS``).
"""

from __future__ import annotations

import os
from pathlib import Path

from tidings.asgi import ASGIApp
from tidings.engine import EngineServer
from tidings.engine.io import HttpRequest
from tidings.websocket_routes import WebSocket, WebSocketRoutes

HANDSHAKE = "EIO=4&transport=polling"


def echo_routes() -> WebSocketRoutes:
    routes = WebSocketRoutes()

    @routes.route("/echo")
    async def echo(ws: WebSocket) -> None:
        async for message in ws:
            await ws.send(message)

    return routes


def routes_alone_asgi() -> ASGIApp:
    return ASGIApp(echo_routes())


class EngineSite:
    """An engine and the site's pages, as an application object offers them."""

    def __init__(self, static_dir: str | os.PathLike[str]) -> None:
        self.engine = EngineServer(path="/engine.io/")
        self.static_files = {"/": Path(static_dir)}


def handshake_request(path: str = "/engine.io/") -> HttpRequest:
    return HttpRequest("GET", path, HANDSHAKE, {"EIO": "4", "transport": "polling"}, {})


def _record(line: str) -> None:
    with open(os.environ["TIDINGS_ASGI_EVENTS"], "a", encoding="utf-8") as f:
        f.write(line + "\n")


def engine_site_asgi() -> ASGIApp:
    site = EngineSite(os.environ["TIDINGS_ASGI_STATIC"])

    async def after_shutdown() -> None:
        response = await site.engine.handle_http(handshake_request())
        _record(f"handshake after shutdown: {response.status}")

    return ASGIApp(site, on_shutdown=after_shutdown)
