"""The chat demo: rooms, history, presence, typing, text and images, in one page.

``tidings demo`` serves it on the embedded defaults: the history (and the
sessions that let a page recover what it missed, even across a server restart)
live in one SQLite file. ``run_node`` serves it as one node of a cluster (Redis
between the nodes, the history in PostgreSQL; see ``examples/cluster``).

The page loads the official ``socket.io-client`` browser build the server itself
serves (``/socket.io/socket.io.min.js``, from the copy tidings ships), so the demo
needs no npm and no CDN, and shows the real client talking to tidings.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from tidings.demo.chat import create_app
from tidings.demo.cluster import ClusterOptions, create_node_app, run_node
from tidings.demo.pages import static_files
from tidings.demo.rules import ChatLimits

__all__ = [
    "ChatLimits",
    "ClusterOptions",
    "create_app",
    "create_node_app",
    "main",
    "run_node",
    "static_files",
]

logger = logging.getLogger("tidings.demo")

#: The history file when none is named: in the directory the demo is started from.
DEFAULT_DB = "tidings-demo.sqlite3"


def main(
    host: str = "127.0.0.1",
    port: int = 8080,
    *,
    db: str | os.PathLike[str] | None = None,
) -> None:
    """Serve the demo until interrupted (what ``tidings demo`` runs).

    ``db`` is the SQLite file the chat's history lives in (``tidings-demo.sqlite3``
    in the current directory unless told otherwise).
    """
    from tidings.standalone import run

    path = Path(db if db is not None else DEFAULT_DB).resolve()
    logger.info("chat history in %s", path)
    run(create_app(path), host=host, port=port, static_files=static_files())
