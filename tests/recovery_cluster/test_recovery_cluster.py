"""A client leaves one node and comes back through another: it gets its id, rooms and data
back and every event it missed, once, in order (issue 11, parts 3 and 4)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.e2e.harness import NodeClient

from .conftest import HEARTBEAT, MAX_AWAY, Cluster, NodeProcess


class Client:
    """One official client socket in ``node/client.mjs``."""

    def __init__(self, node: NodeClient, id: str) -> None:
        self.node = node
        self.id = id
        self.sid = ""

    async def connect(self, via: NodeProcess, **opts: Any) -> dict[str, Any]:
        await self.node.command("connect", id=self.id, url=via.url, opts=opts)
        return await self.connected()

    async def connected(self) -> dict[str, Any]:
        record = await self.node.expect("connect", id=self.id)
        self.sid = record["sid"]
        return record

    async def call(self, event: str, *args: Any) -> Any:
        ref = await self.node.command("emit", id=self.id, event=event, args=list(args), ack=True)
        return (await self.node.expect("ack", id=self.id, ref=ref))["args"][0]

    async def drop(self) -> None:
        """The transport goes away under the socket (not a clean disconnect)."""
        await self.node.command("drop", id=self.id)
        await self.node.expect("disconnect", id=self.id)

    async def come_back(self, via: NodeProcess) -> dict[str, Any]:
        await self.node.command("reconnect", id=self.id, url=via.url)
        return await self.connected()

    async def msgs(self, count: int, timeout: float = 10.0) -> list[tuple[str, int]]:
        """The next ``count`` msg events: (text, offset)."""
        got = []
        for _ in range(count):
            record = await self.node.expect("event", timeout, id=self.id, event="msg")
            text, offset = record["args"]
            got.append((text, int(offset)))
        return got

    def seen(self) -> list[str]:
        return [r["args"][0] for r in self.node.inbox.all("event", id=self.id, event="msg")]


async def _member(
    client: NodeClient, id: str, via: NodeProcess, name: str, transport: str = "websocket"
) -> Client:
    member = Client(client, id)
    first = await member.connect(via, transports=[transport])
    assert first["recovered"] is False
    assert await member.call("join", "room") == "joined"
    assert await member.call("keep", "name", name) == "kept"
    return member


async def _back_in_full(member: Client, via: NodeProcess, sid: str, name: str) -> None:
    """Came back through ``via`` with its id, rooms and data."""
    assert member.sid == sid
    me = await member.call("whoami")
    assert me == {
        "sid": sid, "rooms": sorted(["room", sid]), "data": {"name": name},
        "recovered": True, "node": via.name,
    }


@pytest.mark.parametrize("transport", ["websocket", "polling"])
async def test_missed_events_come_back_through_another_node(
    cluster: Cluster, client: NodeClient, transport: str
) -> None:
    a, b, c = await cluster.start("a", "b", "c")
    ann = await _member(client, "ann", a, "ann", transport)
    sid = ann.sid
    await b.emit("room", "m0")
    [(_, last)] = await ann.msgs(1)
    await ann.drop()
    for i in range(1, 6):
        await b.emit("room", f"m{i}")
    await b.emit("elsewhere", "not for ann")
    await a.emit("room", "m6")  # from the node it left, too
    back = await ann.come_back(c)
    assert back["recovered"] is True
    missed = await ann.msgs(6)
    assert [text for text, _ in missed] == [f"m{i}" for i in range(1, 7)]
    offsets = [o for _, o in missed]
    assert offsets == sorted(offsets) and offsets[0] > last
    await _back_in_full(ann, c, sid, "ann")
    await b.emit("room", "m7")  # its rooms are live again on c
    assert [t for t, _ in await ann.msgs(1)] == ["m7"]
    assert ann.seen() == [f"m{i}" for i in range(8)]  # each once, nothing else


@pytest.mark.timeout(90)
async def test_a_node_killed_its_clients_recover_elsewhere_then_expire(
    cluster: Cluster, client: NodeClient
) -> None:
    a, b, c = await cluster.start("a", "b", "c")
    ann = await _member(client, "ann", a, "ann")
    bob = await _member(client, "bob", a, "bob")
    await b.emit("room", "m0")
    await ann.msgs(1)
    await bob.msgs(1)
    await a.kill()
    await client.expect("disconnect", id="ann")
    await client.expect("disconnect", id="bob")
    for i in range(1, 4):
        await b.emit("room", f"m{i}")
    # a's heartbeat lapses: its live sessions count as disconnected at its last beat
    await asyncio.sleep(4 * HEARTBEAT)
    back = await ann.come_back(c)
    assert back["recovered"] is True
    assert [t for t, _ in await ann.msgs(3)] == ["m1", "m2", "m3"]
    await _back_in_full(ann, c, ann.sid, "ann")
    # bob stays away longer than the recovery window: his session has expired
    await asyncio.sleep(MAX_AWAY)
    old_sid = bob.sid
    late = await bob.come_back(c)
    assert late["recovered"] is False and late["sid"] != old_sid
    assert await bob.call("whoami") == {
        "sid": late["sid"], "rooms": [late["sid"]], "data": {}, "recovered": False, "node": "c",
    }
    assert ann.seen() == ["m0", "m1", "m2", "m3"]
    assert bob.seen() == ["m0"]


async def test_interleaved_emits_of_two_nodes_arrive_in_offset_order(
    cluster: Cluster, client: NodeClient
) -> None:
    a, b = await cluster.start("a", "b")
    ann = await _member(client, "ann", a, "ann")
    bob = await _member(client, "bob", b, "bob")
    count = 150
    await asyncio.gather(
        a.command("burst", room="room", prefix="a", count=count),
        b.command("burst", room="room", prefix="b", count=count),
    )
    expected = sorted([f"a{i}" for i in range(count)] + [f"b{i}" for i in range(count)])
    for member in (ann, bob):
        got = await member.msgs(2 * count)
        offsets = [o for _, o in got]
        # every offset once, no gap, in order: on the emitting node and on the other alike
        assert offsets == list(range(offsets[0], offsets[0] + 2 * count))
        assert sorted(t for t, _ in got) == expected
    assert ann.seen() == bob.seen()


async def test_an_acknowledged_message_outlives_its_node(
    cluster: Cluster, client: NodeClient
) -> None:
    a, b, c = await cluster.start("a", "b", "c")
    away = await _member(client, "away", b, "away")
    await a.emit("room", "before")
    await away.msgs(1)
    await away.drop()
    sender = await _member(client, "sender", a, "sender")
    assert await sender.call("say", "room", "important") == "stored"
    await a.kill()  # right after the ack
    back = await away.come_back(c)
    assert back["recovered"] is True
    assert [t for t, _ in await away.msgs(1)] == ["important"]
    # the sender, cut off with its node, recovers too, and is not sent it twice
    await client.expect("disconnect", id="sender")
    again = await sender.come_back(c)
    assert again["recovered"] is True
    await c.emit("room", "after")
    assert [t for t, _ in await sender.msgs(2)] == ["important", "after"]
    assert sender.seen() == ["important", "after"]
    assert [t for t, _ in await away.msgs(1)] == ["after"]
    assert away.seen() == ["before", "important", "after"]
