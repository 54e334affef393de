"""The FastAPI + tidings app the ASGI tests run under uvicorn and granian (in their own process).

``create_app`` is a factory (``--factory``), configured by environment variables
so every server loads it the same way:

- ``TIDINGS_ASGI_LAYOUT``: "wrapped" (``ASGIApp(sio, other_app=fastapi)``, the default),
  "alone" (``ASGIApp(sio)``, no other app) or "mounted" (``fastapi.mount("/rt", ASGIApp(sio))``; the client's path is then
  "/rt/socket.io/", and the FastAPI lifespan starts and stops ``sio`` itself).
- ``TIDINGS_ASGI_EVENTS``: a file each lifespan step appends one line to.
- ``TIDINGS_ASGI_HISTORY``: the SQLite history file ``sio.startup()`` opens.
- ``TIDINGS_ASGI_STATIC``: a directory served at "/static".
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, WebSocket

import tidings
from tidings.history.sqlite import SQLiteHistory

ALLOWED_ORIGIN = "http://allowed.example"
MAX_PAYLOAD = 10_000
MOUNT = "/rt"


def _record(line: str) -> None:
    with open(os.environ["TIDINGS_ASGI_EVENTS"], "a", encoding="utf-8") as f:
        f.write(line + "\n")


def create_sio() -> tidings.Server:
    sio = tidings.Server(
        cors_allowed_origins=[ALLOWED_ORIGIN],
        max_http_buffer_size=MAX_PAYLOAD,
        ping_interval=1.0,
        ping_timeout=1.0,
        history=SQLiteHistory(os.environ["TIDINGS_ASGI_HISTORY"]),
    )

    @sio.event
    async def echo(socket: tidings.Socket, *args: Any) -> tuple[Any, ...]:
        return args

    @sio.event
    async def join(socket: tidings.Socket, room: str) -> str:
        socket.join(room)
        return room

    @sio.event
    async def shout(socket: tidings.Socket, room: str, *args: Any) -> None:
        await sio.to(room).emit("shouted", *args)

    @sio.event
    async def transport(socket: tidings.Socket) -> str:
        return socket.handshake.url

    return sio


def create_app() -> Any:
    layout = os.environ.get("TIDINGS_ASGI_LAYOUT", "wrapped")
    sio = create_sio()
    mounted = layout == "mounted"

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if mounted:  # Starlette does not forward lifespan to mounted apps
            await sio.startup()
        _record("fastapi startup")
        yield
        if mounted:
            await sio.shutdown()
        _record("fastapi shutdown")

    api = FastAPI(lifespan=lifespan)

    @api.get("/api/hello")
    async def hello(name: str = "world") -> dict[str, str]:
        return {"hello": name}

    @api.websocket("/api/ws")
    async def plain_websocket(ws: WebSocket) -> None:
        await ws.accept()
        text = await ws.receive_text()
        await ws.send_text(text[::-1])
        await ws.close()

    async def started() -> None:
        _record("tidings startup")

    def stopped() -> None:  # a plain function works too
        _record("tidings shutdown")

    static = os.environ.get("TIDINGS_ASGI_STATIC")
    static_files = {"/static": Path(static)} if static else None
    if layout == "alone":
        return tidings.ASGIApp(sio, on_startup=started, on_shutdown=stopped)
    if mounted:
        api.mount(MOUNT, tidings.ASGIApp(sio, static_files=static_files))
        return api
    return tidings.ASGIApp(
        sio, api, static_files=static_files, on_startup=started, on_shutdown=stopped
    )
