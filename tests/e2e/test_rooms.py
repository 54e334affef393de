"""Rooms, broadcasts and server-side socket operations, with three official clients."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest

import tidings

from .harness import ClientSocket, NodeClient, serving

_markers = itertools.count()


def make_server() -> tidings.Server:
    sio = tidings.Server()

    @sio.event
    def join(socket: tidings.Socket, room: str) -> list[str]:
        socket.join(room)
        return sorted(socket.rooms)

    @sio.event
    def leave(socket: tidings.Socket, room: str) -> list[str]:
        socket.leave(room)
        return sorted(socket.rooms)

    @sio.event
    def rooms(socket: tidings.Socket) -> list[str]:
        return sorted(socket.rooms)

    @sio.event
    async def shout(socket: tidings.Socket, text: str) -> None:
        await socket.broadcast.emit("shouted", text)

    @sio.event
    async def tell(socket: tidings.Socket, room: str, text: str) -> None:
        await socket.to(room).emit("told", text)

    @sio.event
    async def tell_except(socket: tidings.Socket, room: str, text: str) -> None:
        await socket.except_(room).emit("told", text)

    return sio


async def trio(node: NodeClient, url: str, opts: dict[str, Any]) -> tuple[ClientSocket, ...]:
    clients = tuple(node.socket(url, id=name, opts=opts) for name in ("a", "b", "c"))
    for client in clients:
        await client.connect()
    for client in clients:
        await client.connected()
    return clients


async def settle(sio: tidings.Server, *clients: ClientSocket) -> None:
    """Everything sent before now has reached ``clients``: each connection keeps order."""
    n = next(_markers)
    await sio.emit("marker", n)
    for client in clients:
        while (await client.event("marker"))[0] != n:
            pass


def names(clients: tuple[ClientSocket, ...], event: str) -> set[str]:
    return {c.id for c in clients if c.received(event)}


async def test_join_leave_and_room_broadcasts(
    node: NodeClient, client_opts: dict[str, Any]
) -> None:
    sio = make_server()
    async with serving(sio) as url:
        clients = a, b, c = await trio(node, url, client_opts)
        assert await a.call("join", "r") == [sorted([a.sid, "r"])]
        await b.call("join", "r")
        await a.call("join", "r2")
        await c.call("join", "r3")

        await sio.to("r").emit("news", 1)
        await sio.to(["r", "r2"]).emit("multi", 2)  # a is in both: gets it once
        await sio.except_("r").emit("outside", 3)
        await sio.to("r").except_("r2").emit("only-b", 4)
        await sio.in_("r3").emit("only-c", 5)
        await settle(sio, *clients)
        assert names(clients, "news") == {"a", "b"}
        assert a.received("multi") == [[2]] and b.received("multi") == [[2]]
        assert names(clients, "outside") == {"c"}
        assert names(clients, "only-b") == {"b"}
        assert names(clients, "only-c") == {"c"}

        # a socket's own id is a room
        await sio.to(b.sid).emit("direct", 6)
        await settle(sio, *clients)
        assert names(clients, "direct") == {"b"}

        assert await a.call("leave", "r") == [sorted([a.sid, "r2"])]
        await sio.to("r").emit("news", 7)
        await settle(sio, *clients)
        assert a.received("news") == [[1]]
        assert b.received("news") == [[1], [7]]


async def test_socket_broadcast_to_and_except(
    node: NodeClient, client_opts: dict[str, Any]
) -> None:
    sio = make_server()
    async with serving(sio) as url:
        clients = a, b, c = await trio(node, url, client_opts)
        await a.call("join", "r")
        await b.call("join", "r")

        await a.emit("shout", "hi all")  # everyone but the sender
        assert await b.event("shouted") == ["hi all"]
        assert await c.event("shouted") == ["hi all"]
        await a.emit("tell", "r", "psst")  # the room, but not the sender
        assert await b.event("told") == ["psst"]
        await b.emit("tell_except", "r", "outside")  # all but the room, nor the sender
        assert await c.event("told") == ["outside"]
        await settle(sio, *clients)
        assert a.received("shouted") == []
        assert a.received("told") == []
        assert b.received("told") == [["psst"]]
        assert c.received("told") == [["outside"]]


async def test_volatile(node: NodeClient, client_opts: dict[str, Any]) -> None:
    sio = make_server()
    got: list[int] = []

    @sio.event
    def light(socket: tidings.Socket, n: int) -> None:
        got.append(n)

    async with serving(sio) as url:
        (a, b, c) = await trio(node, url, client_opts)
        # Volatile may drop a packet while a transport is not writable (over polling: while
        # no poll is held), so each try waits for that first, and is ended by an ordinary event.
        loop = asyncio.get_running_loop()
        for n in range(20):
            deadline = loop.time() + 10
            while not all(s.conn.writable for s in sio.of("/").sockets.values()):
                assert loop.time() < deadline, "a client never polled again"
                await asyncio.sleep(0.005)  # no event says that a poll came
            await sio.volatile.emit("flash", n)
            await settle(sio, a, b, c)
            if all(x.received("flash") for x in (a, b, c)):
                break
        assert all(x.received("flash") for x in (a, b, c))
        # a client's volatile emit reaches the server too
        for n in range(20):
            await a.emit("light", n, volatile=True)
            await a.call("rooms")
            if got:
                break
        assert got


async def test_broadcast_acks(node: NodeClient, client_opts: dict[str, Any]) -> None:
    sio = make_server()
    async with serving(sio) as url:
        a, b, c = await trio(node, url, client_opts)
        await a.call("join", "r")
        await b.call("join", "r")
        await a.reply("q", "value", "from-a")
        await b.reply("q", "value", "from-b")
        await c.reply("q", "value", "from-c")

        assert sorted(await sio.timeout(5).emit_with_ack("q")) == ["from-a", "from-b", "from-c"]
        assert sorted(await sio.to("r").timeout(5).emit_with_ack("q")) == ["from-a", "from-b"]
        assert sorted(await sio.to("r").emit_with_ack("q")) == ["from-a", "from-b"]
        assert await sio.to("nobody").timeout(5).emit_with_ack("q") == []

        # one client never answers: the timeout says so and keeps what came
        await c.reply("q", "none")
        with pytest.raises(tidings.AckTimeoutError) as info:
            await sio.timeout(0.3).emit_with_ack("q")
        assert sorted(info.value.responses) == ["from-a", "from-b"]

        # binary in broadcast acks, echoed by the clients
        await a.reply("bin", "echo")
        await b.reply("bin", "echo")
        assert await sio.to("r").timeout(5).emit_with_ack("bin", b"\x01") == [b"\x01", b"\x01"]


async def test_server_side_socket_operations(node: NodeClient, client_opts: dict[str, Any]) -> None:
    sio = make_server()
    async with serving(sio) as url:
        clients = a, b, c = await trio(node, url, client_opts)
        sid = {x.id: x.sid for x in clients}
        await a.call("join", "r")
        await b.call("join", "r")

        everyone = await sio.fetch_sockets()
        assert {s.id for s in everyone} == set(sid.values())
        in_r = await sio.in_("r").fetch_sockets()
        assert {s.id for s in in_r} == {sid["a"], sid["b"]}
        assert all("r" in s.rooms for s in in_r)

        await sio.in_("r").sockets_join("r2")
        assert "r2" in (await b.call("rooms"))[0]
        assert "r2" not in (await c.call("rooms"))[0]
        await sio.to("r2").emit("via-r2", 1)
        await settle(sio, *clients)
        assert names(clients, "via-r2") == {"a", "b"}

        await sio.in_(sid["a"]).sockets_leave("r2")
        assert "r2" not in (await a.call("rooms"))[0]
        assert {s.id for s in await sio.in_("r2").fetch_sockets()} == {sid["b"]}

        await sio.in_("r").disconnect_sockets()
        assert await a.disconnected() == "io server disconnect"
        assert await b.disconnected() == "io server disconnect"
        assert {s.id for s in await sio.fetch_sockets()} == {sid["c"]}
        assert await c.call("rooms") == [[sid["c"]]]
