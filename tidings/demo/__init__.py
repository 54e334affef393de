"""The chat demo: one page, every message broadcast to every open page.

The page loads the official ``socket.io-client`` browser build from the npm
package on this machine (``npm ci`` at the repo root installs it), so the demo
needs no CDN and shows the real client talking to tidings.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

import tidings

logger = logging.getLogger("tidings.demo")

STATIC_DIR = Path(__file__).resolve().parent / "static"
#: Where ``npm ci`` puts the browser build, relative to the current directory.
DEFAULT_CLIENT_JS = Path("node_modules/socket.io-client/dist/socket.io.min.js")
#: Overrides DEFAULT_CLIENT_JS when set (a ``client_js`` argument overrides both).
CLIENT_JS_ENV = "TIDINGS_SOCKETIO_CLIENT_JS"
MAX_MESSAGE = 500


def create_app() -> tidings.Server:
    """A new demo server (tests serve one each; a stopped server stays stopped)."""
    sio = tidings.Server()

    async def online(exclude: str | None = None) -> int:
        return sum(1 for s in await sio.fetch_sockets() if s.id != exclude)

    @sio.event
    async def connect(socket: tidings.Socket, auth: Any) -> None:
        logger.info("%s joined from %s", socket.id, socket.handshake.address)
        await sio.emit("presence", {"online": await online()})

    @sio.event
    async def disconnect(socket: tidings.Socket, reason: str) -> None:
        logger.info("%s left: %s", socket.id, reason)
        await sio.emit("presence", {"online": await online(exclude=socket.id)})

    @sio.event
    async def chat(socket: tidings.Socket, text: Any) -> dict[str, Any]:
        """Send a message to every page, the sender's included; the ack says if it went."""
        if not isinstance(text, str) or not text.strip():
            return {"ok": False, "error": "a message is some text"}
        text = text.strip()
        if len(text) > MAX_MESSAGE:
            return {"ok": False, "error": f"at most {MAX_MESSAGE} characters"}
        await sio.emit("chat", {"from": socket.id, "text": text, "at": time.time()})
        return {"ok": True}

    return sio


#: The demo's server, as ``tidings serve tidings.demo:app`` would want it.
app = create_app()


class ClientMissingError(FileNotFoundError):
    """The browser build of socket.io-client is not where the demo looks."""


def find_client_js(client_js: str | os.PathLike[str] | None = None) -> Path:
    """The socket.io-client browser build to serve: ``client_js``, else the environment
    variable ``TIDINGS_SOCKETIO_CLIENT_JS``, else ``node_modules/`` under the current directory."""
    chosen = client_js or os.environ.get(CLIENT_JS_ENV) or DEFAULT_CLIENT_JS
    path = Path(chosen).resolve()
    if not path.is_file():
        raise ClientMissingError(
            f"socket.io-client's browser build is not at {path}: run `npm ci` at the tidings "
            f"repo root and start the demo from there, or point {CLIENT_JS_ENV} at "
            "socket.io.min.js"
        )
    return path


def static_files(client_js: str | os.PathLike[str] | None = None) -> dict[str, Path]:
    """URL path -> file or directory, for the built-in server."""
    js = find_client_js(client_js)
    files = {
        "/": STATIC_DIR / "index.html",
        "/static": STATIC_DIR,
        "/vendor/socket.io.min.js": js,
    }
    source_map = js.with_name(js.name + ".map")
    if source_map.is_file():
        files["/vendor/socket.io.min.js.map"] = source_map
    return files


def main(
    host: str = "127.0.0.1",
    port: int = 8080,
    *,
    db: str | None = None,
    client_js: str | os.PathLike[str] | None = None,
) -> None:
    """Serve the demo until interrupted (what ``tidings demo`` runs).

    ``db`` names the SQLite file the chat's history will live in; the demo
    keeps no history yet, so it is accepted and not used.
    """
    from tidings.standalone import run

    try:
        files = static_files(client_js)
    except ClientMissingError as exc:
        raise SystemExit(f"tidings demo: {exc}") from None
    logger.info("starting the chat demo (the page is at the address below)")
    run(app, host=host, port=port, static_files=files)
