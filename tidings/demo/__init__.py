"""The chat demo: rooms, history, presence, typing, text and images, in one page.

``tidings demo`` serves it on the embedded defaults: the history (and the
sessions that let a page recover what it missed, even across a server restart)
live in one SQLite file. The page loads the official ``socket.io-client``
browser build from the npm package on this machine (``npm ci`` at the repo root
installs it), so the demo needs no CDN and shows the real client talking to tidings.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from tidings.demo.chat import create_app
from tidings.demo.rules import ChatLimits

__all__ = ["ChatLimits", "ClientMissingError", "create_app", "find_client_js", "main", "static_files"]

logger = logging.getLogger("tidings.demo")

STATIC_DIR = Path(__file__).resolve().parent / "static"
#: Where ``npm ci`` puts the browser build, relative to the current directory.
DEFAULT_CLIENT_JS = Path("node_modules/socket.io-client/dist/socket.io.min.js")
#: Overrides DEFAULT_CLIENT_JS when set (a ``client_js`` argument overrides both).
CLIENT_JS_ENV = "TIDINGS_SOCKETIO_CLIENT_JS"
#: The history file when none is named: in the directory the demo is started from.
DEFAULT_DB = "tidings-demo.sqlite3"


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
    db: str | os.PathLike[str] | None = None,
    client_js: str | os.PathLike[str] | None = None,
) -> None:
    """Serve the demo until interrupted (what ``tidings demo`` runs).

    ``db`` is the SQLite file the chat's history lives in (``tidings-demo.sqlite3``
    in the current directory unless told otherwise).
    """
    from tidings.standalone import run

    try:
        files = static_files(client_js)
    except ClientMissingError as exc:
        raise SystemExit(f"tidings demo: {exc}") from None
    path = Path(db if db is not None else DEFAULT_DB).resolve()
    logger.info("chat history in %s", path)
    run(create_app(path), host=host, port=port, static_files=files)
