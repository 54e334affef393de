"""The official Socket.IO browser client (socket.io-client's ``dist/`` builds), shipped with tidings.

``tidings.Server`` serves these files under its path (``/socket.io/socket.io.min.js``), as
Node's ``serveClient`` does, so a page needs neither npm nor a CDN. ``VERSION`` names the
release and ``LICENSE`` is its licence; ``scripts/refresh-client`` copies a new release in.
Read through ``importlib.resources``, so the files are found however tidings is installed.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files

__all__ = ["FILES", "read", "version"]

#: Every file served: the three builds and their source maps (not the msgpack build:
#: tidings speaks the default parser).
FILES = (
    "socket.io.js",
    "socket.io.js.map",
    "socket.io.min.js",
    "socket.io.min.js.map",
    "socket.io.esm.min.js",
    "socket.io.esm.min.js.map",
)


def read(name: str) -> bytes:
    """The bytes of one of ``FILES``; called by ``tidings.engine.static.ClientFiles``."""
    if name not in FILES:
        raise ValueError(f"{name!r} is not a file of the browser client")
    return files(__name__).joinpath(name).read_bytes()


@cache
def version() -> str:
    """The socket.io-client release carried, e.g. "4.8.4" (from the one line of ``VERSION``)."""
    return files(__name__).joinpath("VERSION").read_text(encoding="utf-8").split()[-1]
