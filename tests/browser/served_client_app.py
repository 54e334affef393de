"""A tidings.Server as an ASGI app, for uvicorn (``--factory``) in its own process.

``TIDINGS_SERVE_CLIENT`` ("0" or "1") is the Server's ``serve_client``;
``TIDINGS_CLIENT_PATH`` its ``path``; ``TIDINGS_ALLOWED_ORIGIN`` its one CORS origin.
"""

from __future__ import annotations

import os

import tidings


def create_app() -> tidings.ASGIApp:
    sio = tidings.Server(
        serve_client=os.environ.get("TIDINGS_SERVE_CLIENT", "1") == "1",
        path=os.environ.get("TIDINGS_CLIENT_PATH", "/socket.io/"),
        cors_allowed_origins=[os.environ.get("TIDINGS_ALLOWED_ORIGIN", "http://allowed.example")],
    )
    return tidings.ASGIApp(sio)
