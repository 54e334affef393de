"""The engine-hooks app on tidings: node/engine_app.mjs written with tidings' API, line for line."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable
from typing import Any

import tidings
from tidings.engine import HttpRequest, RefusedRequest


def build(**options: Any) -> tidings.Server:
    async def allow_request(request: HttpRequest) -> bool | str:
        # ?deny=<message> refuses a new session with that message; ?deny= with none.
        deny = request.query.get("deny")
        if deny is None:
            return True
        return deny or False

    def generate_id(request: HttpRequest) -> str | Awaitable[str]:
        # ?id=<x> names the new session "id-<x>"; ?aid=<x> "aid-<x>", from a coroutine that
        # answers a turn later; otherwise a random id.
        ident = request.query.get("id")
        later = request.query.get("aid")
        if later is not None:
            return named_later("aid-" + later)
        return secrets.token_urlsafe(15) if ident is None else "id-" + ident

    async def named_later(sid: str) -> str:
        await asyncio.sleep(0)
        return sid

    sio = tidings.Server(allow_request=allow_request, generate_id=generate_id, **options)

    errors: list[dict[str, Any]] = []

    @sio.engine.on("connection_error")
    def refused(err: RefusedRequest) -> None:
        errors.append({"code": err.code, "message": err.message, "context": err.context})

    @sio.engine.on("initial_headers")
    def initial(headers: dict[str, str], request: HttpRequest) -> None:
        headers["x-initial"] = "yes"

    @sio.engine.on("headers")
    def every(headers: dict[str, str], request: HttpRequest) -> None:
        headers["x-every"] = "sid" if "sid" in request.query else "handshake"

    @sio.on("engine-errors")
    def engine_errors(socket: tidings.Socket) -> list[dict[str, Any]]:
        taken = errors[:]
        errors.clear()
        return taken

    @sio.on("big")
    async def big(socket: tidings.Socket, n: int) -> None:
        await socket.emit("big", "x" * n)

    @sio.on("plain")
    async def plain(socket: tidings.Socket, n: int) -> None:
        await socket.compress(False).emit("big", "x" * n)

    @sio.on("mixed")
    async def mixed(socket: tidings.Socket, n: int) -> None:
        await socket.compress(False).emit("big", "x" * n)
        await socket.emit("small", 1)

    @sio.on("engine-id")
    def engine_id(socket: tidings.Socket) -> str:
        return socket.conn.sid

    @sio.on("echo")
    def echo(socket: tidings.Socket, value: Any) -> Any:
        return value

    return sio
