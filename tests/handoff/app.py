"""The app every node of the hand-off tests serves: it says which node answered."""

from __future__ import annotations

from typing import Any

import tidings


def make_app(node: str, **options: Any) -> tidings.Server:
    sio = tidings.Server(**options)

    @sio.on("connect")
    async def connect(socket: tidings.Socket, auth: Any) -> None:
        await socket.emit("welcome", {"node": node})

    @sio.event
    def where(socket: tidings.Socket) -> str:
        return node

    @sio.event
    def echo(socket: tidings.Socket, *args: Any) -> tuple[Any, ...]:
        return args

    @sio.event
    def reverse(socket: tidings.Socket, data: bytes) -> bytes:
        return bytes(reversed(data))

    @sio.event
    def join(socket: tidings.Socket, room: str) -> list[str]:
        socket.join(room)
        return sorted(r for r in socket.rooms if r != socket.id)

    @sio.event
    async def tell(socket: tidings.Socket, room: str, *args: Any) -> None:
        await sio.to(room).emit("told", *args)

    @sio.event
    async def push(socket: tidings.Socket, count: int) -> None:
        for i in range(count):
            await socket.emit("pushed", i, bytes([i % 256]) * 3)

    return sio
