"""The app ``tidings serve workers_app:sio --workers 2`` serves in these tests.

Every handler answers with the pid of the worker that ran it, so a test can tell
the workers apart; the rest exercises the cluster across them.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import tidings

sio = tidings.Server()
pid = os.getpid()


@sio.on("pid")
async def on_pid(socket: tidings.Socket) -> int:
    return pid


@sio.on("join")
async def on_join(socket: tidings.Socket, room: str) -> int:
    socket.join(room)
    return pid


@sio.on("to_room")
async def on_to_room(socket: tidings.Socket, room: str, message: Any) -> int:
    await sio.to(room).emit("news", message, pid)
    return pid


@sio.on("fetch")
async def on_fetch(socket: tidings.Socket, room: str) -> list[str]:
    return sorted(s.id for s in await sio.to(room).fetch_sockets())


@sio.on("server_count")
async def on_server_count(socket: tidings.Socket) -> int:
    return await sio.server_count()


@sio.on("ask_servers")
async def on_ask_servers(socket: tidings.Socket) -> list[Any]:
    return await sio.server_side_emit_with_ack("whoami", pid)


@sio.on_server_event("whoami")
async def on_whoami(asker: int) -> int:
    return pid


@sio.on("tell_servers")
async def on_tell_servers(socket: tidings.Socket, note: str) -> int:
    await sio.server_side_emit("note", note, pid)
    return pid


@sio.on_server_event("note")
async def on_note(note: str, sender: int) -> None:
    await sio.emit("noted", note, sender, pid)


@sio.on("ack_all")
async def on_ack_all(socket: tidings.Socket) -> list[Any]:
    return await sio.timeout(3).emit_with_ack("question")


@sio.on("slow")
async def on_slow(socket: tidings.Socket, seconds: float) -> str:
    """An event whose ack takes ``seconds``: still in flight when a drain starts."""
    await socket.emit("started")
    await asyncio.sleep(seconds)
    return "done"
