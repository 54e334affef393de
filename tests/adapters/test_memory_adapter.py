"""The in-memory adapter's rooms: members held as sockets, looked up again until registered."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

import tidings
from tests.server.conftest import PollingPeer
from tidings.ids import Room


@pytest.fixture
async def sio() -> AsyncIterator[tidings.Server]:
    server = tidings.Server(ping_interval=5, ping_timeout=5)
    yield server
    await server.shutdown(timeout=0.1)


async def test_a_join_from_middleware_is_reached_once_registered(sio: tidings.Server) -> None:
    in_middleware = asyncio.Event()
    release = asyncio.Event()

    @sio.use
    async def early_join(socket: tidings.Socket) -> None:
        socket.join("early")
        in_middleware.set()
        await release.wait()

    peer = PollingPeer(sio)
    await peer.open()
    await peer.post("40")
    await in_middleware.wait()
    assert sio.of("/").adapter.room_sids(Room("early"))  # a member already...
    await sio.to("early").emit("news", "before")  # ...but not registered: skipped, as in Node
    release.set()
    assert (await peer.next()).startswith("40{")
    await sio.to("early").emit("news", "after")
    assert await peer.event() == ("", ["news", "after"])
    with pytest.raises(asyncio.TimeoutError):
        await peer.next(timeout=0.2)


async def test_members_that_leave_or_close_are_not_reached(sio: tidings.Server) -> None:
    @sio.event
    def join(socket: tidings.Socket, room: str) -> bool:
        socket.join(room)
        return True

    @sio.event
    def leave(socket: tidings.Socket, room: str) -> bool:
        socket.leave(room)
        return True

    peers = [PollingPeer(sio) for _ in range(3)]
    for p in peers:
        await p.open()
        await p.connect()
        await p.post('421["join","r"]')
        assert await p.next() == "431[true]"
    await peers[0].post('422["leave","r"]')
    assert await peers[0].next() == "432[true]"
    await peers[1].post("41")  # leaves the namespace
    await asyncio.sleep(0)
    await sio.to("r").emit("news", 1)
    assert await peers[2].event() == ("", ["news", 1])
    for p in peers[:2]:
        with pytest.raises(asyncio.TimeoutError):
            await p.next(timeout=0.1)
    assert set(sio.of("/").adapter.rooms()) == {"r"}
