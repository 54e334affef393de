"""The sharded format on a real Redis Cluster (three masters): every cluster operation
between tidings nodes whose channels live on different shards.

Clients are the official socket.io-client (in Node), one on each node.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

import tidings
from tests.e2e.harness import ClientSocket, NodeClient
from tidings.adapters.redis import RemoteSocket
from tidings.errors import AckTimeoutError

from .redis_cluster import (  # noqa: F401  (fixtures)
    ShardedCluster,
    ShardedNode,
    redis_cluster_fixture,
    sharded_cluster_fixture,
)
from .test_cluster_operations import app, connect, eventually, marker


async def settled(*nodes: ShardedNode) -> None:
    for node in nodes:
        await node.sio.of("/").adapter.rooms_subscribed()  # type: ignore[attr-defined]


def rooms_on_every_shard(cluster: ShardedCluster) -> list[str]:
    """One room per master: the channel ``P#/#room#`` of each hashes to a different shard."""
    by_master: dict[int, str] = {}
    for i in range(1000):
        room = f"room-{i}"
        by_master.setdefault(cluster.redis.master_of(f"{cluster.prefix}#/#{room}#"), room)
        if len(by_master) == len(cluster.redis.ports):
            return [by_master[p] for p in sorted(by_master)]
    raise AssertionError("no room on some master")


async def three_nodes(
    cluster: ShardedCluster, node: NodeClient
) -> tuple[list[ShardedNode], list[ClientSocket]]:
    nodes = [await cluster.start(app) for _ in range(3)]
    clients = [
        await connect(node, n.url, f"c{i}", auth={"name": f"n{i}"}) for i, n in enumerate(nodes)
    ]
    return nodes, clients


async def test_server_count_sums_shard_subscribers_over_the_masters(
    sharded_cluster: ShardedCluster,
) -> None:
    nodes = [await sharded_cluster.start() for _ in range(3)]
    base = f"{sharded_cluster.prefix}#/#"
    counts = sharded_cluster.redis.shard_subscribers(base)
    assert counts == {
        p: (3 if p == sharded_cluster.redis.master_of(base) else 0) for p in sharded_cluster.redis.ports
    }
    for n in nodes:
        assert await n.sio.server_count() == 3
    await sharded_cluster.nodes[2].factory.close()
    assert await nodes[0].sio.server_count() == 2


async def test_room_broadcasts_on_every_shard_and_except(
    sharded_cluster: ShardedCluster, node: NodeClient
) -> None:
    (a, b, c), (ca, cb, cc) = await three_nodes(sharded_cluster, node)
    rooms = rooms_on_every_shard(sharded_cluster)
    for room in rooms:
        await cb.call("join", room)
    await cc.call("join", rooms[1])
    await settled(b, c)
    for i, room in enumerate(rooms):
        await a.sio.to(room).emit("in-room", room, b"\x00" * i)
    for i, room in enumerate(rooms):
        assert await cb.event("in-room") == [room, b"\x00" * i]
    assert await cc.event("in-room") == [rooms[1], b"\x00"]
    await a.sio.except_(rooms[1]).emit("not-r1", 1)
    await a.sio.to(rooms[0]).to(rooms[2]).except_(rooms[1]).emit("r0-r2-not-r1", 2)
    await c.sio.to(ca.sid).emit("to-sid", 3)
    assert await ca.event("to-sid") == [3]
    await marker(a.sio, ca, cb, cc)
    assert ca.received("not-r1") == [[1]] and cb.received("not-r1") == [] and cc.received("not-r1") == []
    assert cb.received("r0-r2-not-r1") == [] and ca.received("r0-r2-not-r1") == []
    assert ca.received("in-room") == [] and len(cc.received("in-room")) == 1


async def test_acks_fetch_sockets_and_remote_handles(
    sharded_cluster: ShardedCluster, node: NodeClient
) -> None:
    (a, _b, _c), (ca, cb, cc) = await three_nodes(sharded_cluster, node)
    await ca.reply("ask", "value", "from-a")
    await cb.reply("ask", "value", b"from-b")
    await cc.reply("ask", "value", {"c": 1})
    replies = await a.sio.timeout(3).emit_with_ack("ask", 1)
    assert sorted(replies, key=repr) == ["from-a", b"from-b", {"c": 1}]
    await ca.reply("silent", "value", "a")
    await cb.reply("silent", "value", "b")
    await cc.reply("silent", "none")
    with pytest.raises(AckTimeoutError) as caught:
        await a.sio.timeout(0.5).emit_with_ack("silent")
    assert sorted(caught.value.responses) == ["a", "b"]

    room = rooms_on_every_shard(sharded_cluster)[2]
    await cc.call("join", room)
    found = {s.id: s for s in await a.sio.fetch_sockets()}
    assert set(found) == {ca.sid, cb.sid, cc.sid}
    assert not isinstance(found[ca.sid], RemoteSocket)
    remote = found[cc.sid]
    assert isinstance(remote, RemoteSocket)
    assert remote.rooms == {cc.sid, room}
    assert remote.data == {"name": "n2"}
    assert [s.id for s in await a.sio.in_(room).fetch_sockets()] == [cc.sid]
    await remote.emit("hello", b"\x09")
    assert await cc.event("hello") == [b"\x09"]
    await cc.reply("question", "value", "answer")
    assert await remote.emit_with_ack("question", timeout=3) == "answer"
    remote.join("joined-remotely")
    await eventually(
        lambda: _ids(a.sio.in_("joined-remotely").fetch_sockets(), {cc.sid}), "remote join"
    )
    remote.leave("joined-remotely")
    await eventually(lambda: _ids(a.sio.in_("joined-remotely").fetch_sockets(), set()), "remote leave")
    await remote.disconnect()
    assert await cc.disconnected() == "io server disconnect"
    assert {s.id for s in await a.sio.fetch_sockets()} == {ca.sid, cb.sid}


async def _ids(fetching: Any, expected: set[str]) -> bool:
    return {s.id for s in await fetching} == expected


async def test_sockets_join_leave_and_disconnect(
    sharded_cluster: ShardedCluster, node: NodeClient
) -> None:
    (a, b, c), (ca, cb, cc) = await three_nodes(sharded_cluster, node)
    rooms = rooms_on_every_shard(sharded_cluster)
    await a.sio.sockets_join(rooms)
    await eventually(
        lambda: _ids(a.sio.in_(rooms[2]).fetch_sockets(), {ca.sid, cb.sid, cc.sid}), "all joined"
    )
    await settled(b, c)
    for room in rooms:
        await a.sio.to(room).emit("in", room)
    for client in (ca, cb, cc):
        for room in rooms:
            assert await client.event("in") == [room]
    await a.sio.in_(cb.sid).sockets_leave(rooms)
    await eventually(lambda: _ids(a.sio.in_(rooms[0]).fetch_sockets(), {ca.sid, cc.sid}), "cb left")
    assert sorted(b.sio.of("/").adapter.rooms()) == []
    await a.sio.in_(rooms[1]).disconnect_sockets()
    assert await cc.disconnected() == "io server disconnect"
    assert await ca.disconnected() == "io server disconnect"
    assert {s.id for s in await b.sio.fetch_sockets()} == {cb.sid}


async def test_server_side_emit_with_and_without_acks(sharded_cluster: ShardedCluster) -> None:
    heard: dict[str, asyncio.Future[list[Any]]] = {}

    def setup(name: str) -> Callable[[tidings.Server], None]:
        heard[name] = asyncio.get_running_loop().create_future()

        def register(sio: tidings.Server) -> None:
            @sio.on_server_event("note")
            def note(*args: Any) -> None:
                heard[name].set_result(list(args))

            @sio.on_server_event("ask")
            def ask(*args: Any) -> str:
                return f"{name}:{args[0]}"

        return register

    a = await sharded_cluster.start(setup("a"))
    await sharded_cluster.start(setup("b"))
    await sharded_cluster.start(setup("c"))
    await a.sio.server_side_emit("note", 1, {"k": [b"\x02"]})
    assert await asyncio.wait_for(heard["b"], 5) == [1, {"k": [b"\x02"]}]
    assert await asyncio.wait_for(heard["c"], 5) == [1, {"k": [b"\x02"]}]
    assert not heard["a"].done()
    assert sorted(await a.sio.server_side_emit_with_ack("ask", "q")) == ["b:q", "c:q"]
