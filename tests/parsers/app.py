"""The app the official client (with socket.io-msgpack-parser) talks to, on tidings.

``/``: middleware refusing ``auth.token == "bad"`` (with data); ``echo`` acks its arguments;
``echo_event`` emits them back as ``echoed``; ``ask`` asks the client ``question`` with the
arguments and acks what the client answered; ``join`` joins a room; ``shout`` emits to a room;
``others`` broadcasts to everyone but the sender; ``kick`` disconnects the socket; ``whoami``
acks the auth payload. ``/admin``: ``where`` acks the namespace's name.
"""

from __future__ import annotations

from typing import Any

import tidings
from tidings.protocol.socketio import ParserChoice


def build(parser: ParserChoice = "msgpack") -> tidings.Server:
    sio = tidings.Server(parser=parser)

    async def guard(socket: tidings.Socket) -> None:
        auth = socket.handshake.auth
        if isinstance(auth, dict) and auth.get("token") == "bad":
            raise tidings.ConnectionRefusedError("not authorized", data={"code": 401})

    sio.of("/").use(guard)

    @sio.on("whoami")
    def whoami(socket: tidings.Socket) -> Any:
        return socket.handshake.auth

    @sio.on("echo")
    def echo(socket: tidings.Socket, *args: Any) -> tuple[Any, ...]:
        return args

    @sio.on("echo_event")
    async def echo_event(socket: tidings.Socket, *args: Any) -> None:
        await socket.emit("echoed", *args)

    @sio.on("ask")
    async def ask(socket: tidings.Socket, *args: Any) -> Any:
        return await socket.emit_with_ack("question", *args, timeout=5)

    @sio.on("join")
    def join(socket: tidings.Socket, room: str) -> str:
        socket.join(room)
        return "joined"

    @sio.on("shout")
    async def shout(socket: tidings.Socket, room: str, *args: Any) -> str:
        await sio.to(room).emit("shouted", *args)
        return "shouted"

    @sio.on("others")
    async def others(socket: tidings.Socket, *args: Any) -> str:
        await socket.broadcast.emit("from_other", *args)
        return "sent"

    @sio.on("kick")
    async def kick(socket: tidings.Socket) -> None:
        await socket.disconnect()

    @sio.of("/admin").on("where")
    def where(socket: tidings.Socket) -> str:
        return socket.nsp.name

    return sio
