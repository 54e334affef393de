"""Logged events reach a node's sockets in offset order, once, whatever order they arrive in.

Another node is played by appending to the shared store directly and handing its
broadcast to the namespace as the cluster adapter does (``receive_broadcast``), in
any order, late, twice, or never (a direct emit on another node is never published).
"""

from __future__ import annotations

import asyncio

import tidings
from tests.server.conftest import PollingPeer
from tidings.adapters.base import BroadcastOptions
from tidings.history import MemoryHistory
from tidings.ids import Room
from tidings.protocol.socketio import Packet, PacketType, encode


class OtherNode:
    """What a second node does to the shared store and to pub/sub, by hand."""

    def __init__(self, sio: tidings.Server, store: MemoryHistory) -> None:
        self.sio = sio
        self.store = store

    async def commit(self, text: str, rooms: tuple[str, ...] = ()) -> Packet:
        packet = Packet(PacketType.EVENT, "/", ["msg", text])
        encoded = encode(packet, self.sio.serializer)
        offset = await self.store.append(
            "/", "msg", encoded.text.encode(), rooms=rooms, now=1.0
        )
        return Packet(PacketType.EVENT, "/", ["msg", text, str(offset)])

    def arrive(self, packet: Packet, rooms: tuple[str, ...] = ()) -> bool:
        opts = BroadcastOptions(frozenset(Room(r) for r in rooms))
        return self.sio.of("/").receive_broadcast(packet, opts)


async def _texts(peer: PollingPeer, count: int) -> list[tuple[str, str]]:
    got = []
    for _ in range(count):
        _, (event, text, offset) = await peer.event()
        assert event == "msg"
        got.append((text, offset))
    return got


async def test_arrivals_out_of_order_are_delivered_in_order_once() -> None:
    store = MemoryHistory()
    sio = tidings.Server(history=store, connection_state_recovery=True)
    other = OtherNode(sio, store)
    peer = PollingPeer(sio)
    await peer.open()
    await peer.connect()

    one = await other.commit("one")
    two = await other.commit("two")
    assert other.arrive(two)  # ahead of one: held, the gap read from the store
    assert await _texts(peer, 2) == [("one", "1"), ("two", "2")]
    assert other.arrive(one)  # pub/sub brings one late: dropped, never twice
    assert other.arrive(two)
    await sio.emit("msg", "three")  # this node's own, next in line: at once
    assert await _texts(peer, 1) == [("three", "3")]

    # Another node's direct emit to its own socket is logged but never published: the
    # next offset here waits for it, reads it, and skips it (not for this socket).
    await other.commit("theirs", rooms=("sid-on-another-node",))
    await sio.emit("msg", "five")
    assert await _texts(peer, 1) == [("five", "5")]

    # An own emit ahead of a remote one still in flight waits for it.
    six = await other.commit("six")
    emitting = asyncio.create_task(sio.emit("msg", "seven"))
    await asyncio.sleep(0)
    other.arrive(six)
    await emitting
    assert await _texts(peer, 2) == [("six", "6"), ("seven", "7")]
    await sio.shutdown(timeout=0.1)


async def test_interleaved_nodes_no_gap_no_duplicate() -> None:
    """Two nodes emitting at once, arrivals shuffled and repeated: the socket sees 1..N."""
    store = MemoryHistory()
    sio = tidings.Server(history=store, connection_state_recovery=True)
    other = OtherNode(sio, store)
    peer = PollingPeer(sio)
    await peer.open()
    await peer.connect()

    remote: list[Packet] = []

    async def local(i: int) -> None:
        await sio.emit("msg", f"local{i}")

    async def far(i: int) -> None:
        remote.append(await other.commit(f"remote{i}"))

    await asyncio.gather(*(f(i) for i in range(20) for f in (local, far)))
    # pub/sub delivers the remote ones late, newest first, some twice
    for packet in [*reversed(remote), *remote[:5]]:
        other.arrive(packet)
    got = await _texts(peer, 40)
    assert [int(offset) for _, offset in got] == list(range(1, 41))
    assert sorted(text for text, _ in got) == sorted(
        [f"local{i}" for i in range(20)] + [f"remote{i}" for i in range(20)]
    )
    assert peer.inbox == []
    await sio.shutdown(timeout=0.1)


async def test_a_gap_the_store_cannot_fill_is_given_up_not_waited_on() -> None:
    store = MemoryHistory()
    sio = tidings.Server(
        history=store, connection_state_recovery=tidings.RecoveryOptions(gap_wait=0.3)
    )
    other = OtherNode(sio, store)
    peer = PollingPeer(sio)
    await peer.open()
    await peer.connect()
    await other.commit("one")  # committed, never published
    two = await other.commit("two")
    await store.close()  # the store cannot be read now
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert other.arrive(two)
    assert await _texts(peer, 1) == [("two", "2")]
    assert loop.time() - started >= 0.3
    await store.open()
    await sio.emit("msg", "three")
    assert await _texts(peer, 1) == [("three", "3")]
    await sio.shutdown(timeout=0.1)
