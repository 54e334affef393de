"""Every cluster operation between tidings nodes on a real Redis, in each of the three formats.

Clients are the official socket.io-client (in Node), one on each node; every operation is
started on node A and checked at the clients of both nodes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

import tidings
from tests.e2e.harness import ClientSocket, NodeClient
from tidings.adapters.redis import RemoteSocket
from tidings.errors import AckTimeoutError

from .conftest import Cluster, Node

WS = {"transports": ["websocket"]}


def app(sio: tidings.Server) -> None:
    @sio.event
    async def connect(socket: tidings.Socket, auth: Any) -> None:
        if isinstance(auth, dict) and "name" in auth:
            socket.data["name"] = auth["name"]

    @sio.event
    def join(socket: tidings.Socket, room: str) -> list[str]:
        socket.join(room)
        return sorted(socket.rooms)


async def settled(*nodes: Node) -> None:
    """Room channel subscriptions (sharded format) follow local rooms: wait until they do."""
    for node in nodes:
        follow = getattr(node.adapter, "rooms_subscribed", None)
        if follow is not None:
            await follow()


async def eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """For what crosses Redis by two routes (the streams format's stream vs pub/sub), where no
    event says it has arrived: retry a bounded number of times."""
    for _ in range(100):
        if await check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"never: {what}")


async def connect(node: NodeClient, url: str, name: str, **kw: Any) -> ClientSocket:
    client = node.socket(url, id=name, opts=WS, **kw)
    await client.connect()
    await client.connected()
    return client


async def two_nodes(cluster: Cluster, node: NodeClient, wire_format: str) -> tuple[Node, Node, ClientSocket, ClientSocket]:
    a = await cluster.start(wire_format, app)
    b = await cluster.start(wire_format, app)
    ca = await connect(node, a.url, "ca", auth={"name": "ay"})
    cb = await connect(node, b.url, "cb", auth={"name": "bee"})
    return a, b, ca, cb


async def marker(sio: tidings.Server, *clients: ClientSocket) -> None:
    """Everything A broadcast before now has reached ``clients`` (one channel keeps order)."""
    await sio.emit("marker")
    for client in clients:
        await client.event("marker")


async def test_broadcasts_rooms_except_local_and_binary(
    cluster: Cluster, node: NodeClient, wire_format: str
) -> None:
    a, b, ca, cb = await two_nodes(cluster, node, wire_format)
    assert await a.sio.server_count() == 2
    await cb.call("join", "r")
    await settled(b)
    await a.sio.to("r").emit("in-room", "hi", b"\x00\x01\xff", {"deep": [b"\x02"]})
    assert await cb.event("in-room") == ["hi", b"\x00\x01\xff", {"deep": [b"\x02"]}]
    await a.sio.emit("everyone", 1)
    assert await ca.event("everyone") == [1]
    assert await cb.event("everyone") == [1]
    await a.sio.except_("r").emit("not-r", 2)
    await a.sio.local.emit("local-only", 3)
    await a.sio.volatile.emit("volatile", 4)
    await b.sio.to(ca.sid).emit("to-sid", 5)
    assert await ca.event("to-sid") == [5]
    await marker(a.sio, ca, cb)
    assert ca.received("not-r") == [[2]] and cb.received("not-r") == []
    assert ca.received("local-only") == [[3]] and cb.received("local-only") == []
    assert cb.received("volatile") == [[4]]
    assert ca.received("in-room") == []


async def test_sockets_join_leave_and_disconnect_across_nodes(
    cluster: Cluster, node: NodeClient, wire_format: str
) -> None:
    a, b, ca, cb = await two_nodes(cluster, node, wire_format)

    async def members(room: str) -> set[str]:
        return {s.id for s in await a.sio.in_(room).fetch_sockets()}

    async def members_are(room: str, expected: set[str]) -> bool:
        return await members(room) == expected

    await a.sio.sockets_join("j")
    await eventually(lambda: members_are("j", {ca.sid, cb.sid}), "both in j")
    await settled(b)
    await a.sio.to("j").emit("in-j", 1)
    assert await cb.event("in-j") == [1]
    await a.sio.in_(cb.sid).sockets_leave("j")
    await eventually(lambda: members_are("j", {ca.sid}), "only A's client left in j")
    assert sorted(b.sio.of("/").adapter.rooms()) == []
    await a.sio.in_(cb.sid).disconnect_sockets()
    assert await cb.disconnected() == "io server disconnect"
    assert ca.received("in-j") == [[1]]


async def test_fetch_sockets_and_remote_handles(
    cluster: Cluster, node: NodeClient, wire_format: str
) -> None:
    a, _b, ca, cb = await two_nodes(cluster, node, wire_format)
    await cb.call("join", "x")
    found = {s.id: s for s in await a.sio.fetch_sockets()}
    assert set(found) == {ca.sid, cb.sid}
    assert not isinstance(found[ca.sid], RemoteSocket)
    remote = found[cb.sid]
    assert isinstance(remote, RemoteSocket)
    assert remote.rooms == {cb.sid, "x"}
    assert remote.data == {"name": "bee"}
    assert remote.handshake["auth"] == {"name": "bee"}
    assert remote.handshake["time"].endswith("GMT+0000 (Coordinated Universal Time)")
    assert list(remote.handshake) == ["headers", "time", "address", "xdomain", "secure", "issued", "url", "query", "auth"]
    assert remote.handshake["headers"]["host"].startswith("127.0.0.1:")
    assert [s.id for s in await a.sio.in_("x").fetch_sockets()] == [cb.sid]

    await remote.emit("hello", b"\x09", "two")
    assert await cb.event("hello") == [b"\x09", "two"]
    await cb.reply("question", "value", "answer", b"\x07")
    assert await remote.emit_with_ack("question", 1, timeout=3) == "answer"
    remote.join("y")
    await eventually(lambda: _ids(a.sio.in_("y").fetch_sockets(), {cb.sid}), "remote join")
    remote.leave("y")
    await eventually(lambda: _ids(a.sio.in_("y").fetch_sockets(), set()), "remote leave")
    await remote.disconnect()
    assert await cb.disconnected() == "io server disconnect"
    assert [s.id for s in await a.sio.fetch_sockets()] == [ca.sid]


async def _ids(fetching: Awaitable[list[Any]], expected: set[str]) -> bool:
    return {s.id for s in await fetching} == expected


async def test_broadcast_with_acks_across_nodes(
    cluster: Cluster, node: NodeClient, wire_format: str
) -> None:
    a, _b, ca, cb = await two_nodes(cluster, node, wire_format)
    await ca.reply("ask", "value", "from-a")
    await cb.reply("ask", "value", b"from-b")
    replies = await a.sio.timeout(3).emit_with_ack("ask", 1)
    assert sorted(replies, key=repr) == ["from-a", b"from-b"]
    # A node with no client to reach answers a zero count at once: no wait for the timeout.
    assert await a.sio.to("nobody").timeout(30).emit_with_ack("ask") == []
    await cb.reply("silent", "none")
    await ca.reply("silent", "value", "a")
    with pytest.raises(AckTimeoutError) as caught:
        await a.sio.timeout(0.5).emit_with_ack("silent")
    assert caught.value.responses == ["a"]


async def test_server_side_emit_with_and_without_acks(cluster: Cluster, wire_format: str) -> None:
    heard: dict[str, asyncio.Future[list[Any]]] = {}
    hold = asyncio.Event()

    def setup(name: str) -> Callable[[tidings.Server], None]:
        heard[name] = asyncio.get_running_loop().create_future()

        def register(sio: tidings.Server) -> None:
            @sio.on_server_event("note")
            def note(*args: Any) -> None:
                heard[name].set_result(list(args))

            @sio.on_server_event("ask")
            async def ask(*args: Any) -> str:
                if name == "c" and args == ("hold",):
                    await hold.wait()
                return f"{name}:{args[0]}"

        return register

    a = await cluster.start(wire_format, setup("a"))
    await cluster.start(wire_format, setup("b"))
    await cluster.start(wire_format, setup("c"))
    assert await a.sio.server_count() == 3
    await a.sio.server_side_emit("note", 1, {"k": [2]})
    assert await asyncio.wait_for(heard["b"], 5) == [1, {"k": [2]}]
    assert await asyncio.wait_for(heard["c"], 5) == [1, {"k": [2]}]
    assert not heard["a"].done()
    assert sorted(await a.sio.server_side_emit_with_ack("ask", "q")) == ["b:q", "c:q"]
    with pytest.raises(AckTimeoutError) as caught:
        await a.sio.server_side_emit_with_ack("ask", "hold", timeout=0.5)
    assert caught.value.responses == ["b:hold"]
    hold.set()


async def test_all_rooms_classic(cluster: Cluster, node: NodeClient) -> None:
    a, _b, ca, cb = await two_nodes(cluster, node, "classic")
    await cb.call("join", "kitchen")
    await ca.call("join", "hall")
    assert await a.adapter.all_rooms() == {"kitchen", "hall", ca.sid, cb.sid}


async def test_a_lone_node_answers_itself(cluster: Cluster, node: NodeClient, wire_format: str) -> None:
    a = await cluster.start(wire_format, app)
    ca = await connect(node, a.url, "ca")
    assert await a.sio.server_count() == 1
    assert [s.id for s in await a.sio.fetch_sockets()] == [ca.sid]
    assert await a.sio.server_side_emit_with_ack("nobody") == []
    await ca.reply("ask", "value", 7)
    assert await a.sio.timeout(2).emit_with_ack("ask") == [7]
