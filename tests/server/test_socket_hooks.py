"""What the Node-parity semantics tests (tests/semantics) cannot show from a client: memory
that does not grow with distinct dynamic namespaces, and the edges of ``socket.use`` and the
catch-all listeners. The peer speaks the wire format by hand (see conftest)."""

from __future__ import annotations

import asyncio
import gc
import re
import weakref
from typing import Any

import pytest

import tidings

from .conftest import PollingPeer


async def _churn(sio: tidings.Server, parent: Any, count: int) -> list[weakref.ref[Any]]:
    """One client joins and leaves ``count`` distinct children in turn; refs to each child."""
    refs = []
    peer = PollingPeer(sio)
    await peer.open()
    await peer.connect()
    for i in range(count):
        await peer.connect(f"/dyn-{i}")
        refs.append(weakref.ref(parent.children[f"/dyn-{i}"]))
        await peer.post(f"41/dyn-{i},")
    # The main namespace answers after every DISCONNECT above was read.
    await peer.post('421["sync"]')
    assert await peer.next() == "431[]"
    return refs


@pytest.mark.parametrize("cleanup", [False, True])
async def test_distinct_child_namespaces_do_not_pile_up(cleanup: bool) -> None:
    sio = tidings.Server(cleanup_empty_child_namespaces=cleanup)
    sio.on("sync", lambda socket: None)
    parent = sio.of(re.compile(r"/dyn-\d+"))
    try:
        refs = await _churn(sio, parent, 200)
        await asyncio.sleep(0)  # the removed children's adapters close in a task
        gc.collect()
        if cleanup:
            assert parent.children == {}
            assert [r for r in refs if r() is not None] == []  # nothing keeps them alive
        else:
            assert len(parent.children) == 200
    finally:
        await sio.shutdown(timeout=0.1)


async def test_a_refused_connection_leaves_no_child_behind() -> None:
    sio = tidings.Server(cleanup_empty_child_namespaces=True)
    parent = sio.of(re.compile(r"/dyn-\d+"))

    @parent.use
    def refuse(socket: tidings.Socket) -> None:
        raise tidings.ConnectionRefusedError("no")

    peer = PollingPeer(sio)
    await peer.open()
    await peer.post("40/dyn-1,")
    assert (await peer.next()).startswith("44/dyn-1,")
    assert parent.children == {}
    await sio.shutdown(timeout=0.1)


async def test_a_child_stays_while_a_socket_is_still_connecting() -> None:
    """Unlike Node, whose count misses sockets in middleware, a child is not removed under
    a client whose middleware is still running."""
    sio = tidings.Server(cleanup_empty_child_namespaces=True)
    parent = sio.of(re.compile(r"/dyn-\d+"))
    release = asyncio.Event()

    @parent.use
    async def slow_for_the_second(socket: tidings.Socket) -> None:
        if socket.auth == {"slow": True}:
            await release.wait()

    first, second = PollingPeer(sio), PollingPeer(sio)
    await first.open()
    await second.open()
    await first.connect("/dyn-1")
    await second.post('40/dyn-1,{"slow":true}')
    await first.post("41/dyn-1,")
    for _ in range(10):
        await asyncio.sleep(0)
    child = parent.children["/dyn-1"]
    release.set()
    assert (await second.next()).startswith("40/dyn-1,")
    assert parent.children == {"/dyn-1": child}
    assert len(child.sockets) == 1
    await sio.shutdown(timeout=0.1)


async def test_middleware_may_rename_or_break_the_packet(sio: tidings.Server, peer_factory: Any) -> None:
    errors: list[BaseException] = []

    @sio.on("connect")
    def connect(socket: tidings.Socket, auth: Any) -> None:
        @socket.use
        async def route(socket: tidings.Socket, packet: list[Any]) -> None:
            await asyncio.sleep(0)
            if packet[0] == "old":
                packet[0] = "new"
            elif packet[0] == "broken":
                packet.clear()

    @sio.on("new")
    def new(socket: tidings.Socket, n: int) -> int:
        return n + 1

    @sio.on("error")
    def error(socket: tidings.Socket, exc: BaseException, *, ack: tidings.Ack) -> None:
        assert not ack.expected
        errors.append(exc)

    peer = peer_factory()
    await peer.open()
    await peer.connect()
    await peer.post('421["old",1]', '422["broken"]', '423["new",5]')
    assert await peer.next() == "431[2]"
    assert await peer.next() == "433[6]"  # in order, and nothing for the broken one
    assert len(errors) == 1 and isinstance(errors[0], TypeError)


async def test_a_rejection_without_an_error_handler_is_dropped(
    sio: tidings.Server, peer_factory: Any
) -> None:
    def deny(socket: tidings.Socket, packet: list[Any]) -> None:
        if packet[0] == "no":
            raise PermissionError("no")

    sio.on("connect", lambda socket, auth: socket.use(deny))

    sio.on("yes", lambda socket: "ok")
    peer = peer_factory()
    await peer.open()
    await peer.connect()
    await peer.post('421["no"]', '422["yes"]')
    assert await peer.next() == '432["ok"]'


async def test_listeners_async_binary_and_listed(sio: tidings.Server, peer_factory: Any) -> None:
    seen: asyncio.Queue[tuple[str, list[Any]]] = asyncio.Queue()
    sockets: list[tidings.Socket] = []

    async def out(socket: tidings.Socket, event: str, args: list[Any]) -> None:
        await asyncio.sleep(0)
        await seen.put((event, args))

    @sio.on("connect")
    def connect(socket: tidings.Socket, auth: Any) -> None:
        sockets.append(socket)
        socket.on_any_outgoing(out)
        socket.off_any(out)  # not an incoming listener: nothing to remove
        socket.off_any_outgoing(print)  # never registered: nothing happens

    peer = peer_factory()
    await peer.open()
    await peer.connect()
    assert sockets[0].listeners_any_outgoing() == [out]
    assert sockets[0].listeners_any() == []
    await sio.to(sockets[0].id).emit("blob", b"\x01\x02", {"n": 1})
    assert await asyncio.wait_for(seen.get(), 2) == ("blob", [b"\x01\x02", {"n": 1}])
    await sio.of("/elsewhere").emit("other")  # another namespace: not this socket's
    await sockets[0].emit("own")
    assert await asyncio.wait_for(seen.get(), 2) == ("own", [])


async def test_new_namespace_handlers(sio: tidings.Server, peer_factory: Any) -> None:
    made: list[str] = []

    @sio.on("new_namespace")
    def failing(nsp: tidings.Namespace) -> None:
        raise RuntimeError("logged, and the others still run")

    @sio.event
    async def new_namespace(nsp: tidings.Namespace) -> None:
        await asyncio.sleep(0)
        made.append(nsp.name)

    sio.of(re.compile(r"/dyn-\d+"))
    sio.of("/static")
    peer = peer_factory()
    await peer.open()
    await peer.connect()
    await peer.post('42["new_namespace"]')  # a client's event of that name is not the server's
    await peer.connect("/dyn-7")
    for _ in range(5):
        await asyncio.sleep(0)
    assert made == ["/static", "/dyn-7"]


async def test_events_sent_before_the_connect_reply_meet_the_hooks_it_set(
    sio: tidings.Server, peer_factory: Any
) -> None:
    """A client that does not wait for its CONNECT reply cannot slip an event past the
    ``socket.use`` middleware the connect handler registers (Node reads no event before)."""
    ran: list[str] = []
    heard: list[str] = []
    errors: list[str] = []

    @sio.on("connect")
    async def connect(socket: tidings.Socket, auth: Any) -> None:
        await asyncio.sleep(0.01)  # the client's events arrive meanwhile

        @socket.use
        def guard(socket: tidings.Socket, packet: list[Any]) -> None:
            if packet[0] == "admin":
                raise PermissionError("admin")

        socket.on_any(lambda socket, event, args: heard.append(event))

    sio.on("admin", lambda socket: ran.append("admin"))
    sio.on("hello", lambda socket: "hi")
    sio.on("error", lambda socket, exc: errors.append(str(exc)))
    peer = peer_factory()
    await peer.open()
    await peer.post("40", '421["admin"]', '422["hello"]')
    assert (await peer.next()).startswith("40")
    assert await peer.next() == '432["hi"]'
    assert ran == [] and errors == ["admin"] and heard == ["admin", "hello"]
