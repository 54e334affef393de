"""The Socket.IO server's behaviour, read off the exact packets it sends."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest

import tidings
from tests.server.conftest import PollingPeer


async def test_connect_with_auth_then_event_with_ack(sio: tidings.Server, peer_factory: Any) -> None:
    seen: dict[str, Any] = {}

    @sio.on("connect")
    async def connect(socket: tidings.Socket, auth: Any) -> None:
        seen["auth"] = auth
        seen["query"] = socket.handshake.query.get("x")
        await socket.emit("welcome", socket.id)

    @sio.event
    async def add(socket: tidings.Socket, a: int, b: int) -> int:
        return a + b

    peer: PollingPeer = peer_factory(query="x=1")
    await peer.open()
    sid = await peer.connect(auth={"token": "t"})
    assert len(sid) == 20
    assert await peer.event() == ("", ["welcome", sid])
    assert seen == {"auth": {"token": "t"}, "query": "1"}
    await peer.post('427["add",2,3]')
    assert await peer.next() == "437[5]"


async def test_middleware_refusal_reaches_client_with_message_and_data(sio: tidings.Server, peer_factory: Any) -> None:
    @sio.use
    async def auth(socket: tidings.Socket) -> None:
        if socket.auth.get("token") != "good":
            raise tidings.ConnectionRefusedError("not authorized", data={"code": 401})

    peer = peer_factory()
    await peer.open()
    await peer.post('40{"token":"bad"}')
    assert await peer.next() == '44{"message":"not authorized","data":{"code":401}}'
    assert await peer.connect(auth={"token": "good"})


async def test_unknown_namespace_is_refused(sio: tidings.Server, peer_factory: Any) -> None:
    peer = peer_factory()
    await peer.open()
    await peer.post("40/nope,")
    assert await peer.next() == '44/nope,{"message":"Invalid namespace"}'


async def test_dynamic_and_class_namespaces_share_one_connection(sio: tidings.Server, peer_factory: Any) -> None:
    dyn = sio.of(re.compile(r"^/room-\d+$"))

    @dyn.on("hello")
    def hello(socket: tidings.Socket) -> str:
        return "hi from " + socket.namespace

    class Chat(tidings.Namespace):
        async def on_echo(self, socket: tidings.Socket, data: Any) -> Any:
            return data

    sio.register_namespace(Chat("/chat"))
    peer = peer_factory()
    await peer.open()
    await peer.connect("/room-42")
    await peer.connect("/chat")
    await peer.post('42/room-42,1["hello"]', '42/chat,2["echo",{"a":[1]}]')
    replies = {await peer.next(), await peer.next()}
    assert replies == {'43/room-42,1["hi from /room-42"]', '43/chat,2[{"a":[1]}]'}
    await peer.post("40/room-x,")
    assert await peer.next() == '44/room-x,{"message":"Invalid namespace"}'


async def test_rooms_broadcast_and_except(sio: tidings.Server, peer_factory: Any) -> None:
    @sio.event
    def join(socket: tidings.Socket, room: str) -> list[str]:
        socket.join(room)
        return sorted(socket.rooms)

    peers = [peer_factory() for _ in range(3)]
    sids = []
    for p in peers:
        await p.open()
        sids.append(await p.connect())
    for p, room in zip(peers, ["a", "a", "b"]):
        await p.post(f'421["join","{room}"]')
        assert (await p.next()).startswith("431[")
    await sio.to("a").emit("news", 1)
    assert await peers[0].event() == ("", ["news", 1])
    assert await peers[1].event() == ("", ["news", 1])
    await sio.except_("a").emit("news", 2)
    assert await peers[2].event() == ("", ["news", 2])
    await sio.to(["a", "b"]).except_(sids[0]).emit("news", 3)
    assert await peers[1].event() == ("", ["news", 3])
    assert await peers[2].event() == ("", ["news", 3])
    # socket.broadcast: everyone but the sender
    sockets = {s.id: s for s in await sio.fetch_sockets()}
    assert set(sockets) == set(sids)
    await sockets[sids[0]].broadcast.emit("news", 4)
    assert await peers[1].event() == ("", ["news", 4])
    assert await peers[2].event() == ("", ["news", 4])
    with pytest.raises(asyncio.TimeoutError):
        await peers[0].next(timeout=0.2)


async def test_remote_style_socket_operations(sio: tidings.Server, peer_factory: Any) -> None:
    peers = [peer_factory() for _ in range(2)]
    for p in peers:
        await p.open()
        await p.connect()
    await sio.sockets_join("all")
    assert len(await sio.in_("all").fetch_sockets()) == 2
    await sio.in_("all").sockets_leave("all")
    assert await sio.in_("all").fetch_sockets() == []
    await sio.disconnect_sockets()
    for p in peers:
        assert await p.next() == "41"
    assert await sio.fetch_sockets() == []


async def test_broadcast_ack_collects_one_reply_per_client(sio: tidings.Server, peer_factory: Any) -> None:
    peers = [peer_factory() for _ in range(2)]
    for p in peers:
        await p.open()
        await p.connect()
    task = asyncio.ensure_future(sio.timeout(2).emit_with_ack("question", "?"))
    for i, p in enumerate(peers):
        packet = await p.next()
        m = re.fullmatch(r'42(\d+)\["question","\?"\]', packet)
        assert m, packet
        await p.post(f"43{m.group(1)}[{i}]")
    assert sorted(await task) == [0, 1]


async def test_broadcast_ack_timeout_keeps_partial_replies(sio: tidings.Server, peer_factory: Any) -> None:
    peers = [peer_factory() for _ in range(2)]
    for p in peers:
        await p.open()
        await p.connect()
    task = asyncio.ensure_future(sio.timeout(0.3).emit_with_ack("q"))
    packet = await peers[0].next()
    ack_id = re.fullmatch(r'42(\d+)\["q"\]', packet).group(1)  # type: ignore[union-attr]
    await peers[0].post(f'43{ack_id}["yes"]')
    with pytest.raises(tidings.AckTimeoutError) as info:
        await task
    assert info.value.responses == ["yes"]


async def test_server_emit_with_ack_and_timeout(sio: tidings.Server, peer_factory: Any) -> None:
    peer = peer_factory()
    await peer.open()
    sid = await peer.connect()
    (socket,) = await sio.fetch_sockets()
    assert socket.id == sid
    task = asyncio.ensure_future(socket.emit_with_ack("ping?", 1, timeout=2))
    packet = await peer.next()
    ack_id = re.fullmatch(r'42(\d+)\["ping\?",1\]', packet).group(1)  # type: ignore[union-attr]
    await peer.post(f'43{ack_id}["pong",2]')
    assert await task == ("pong", 2)
    with pytest.raises(tidings.AckTimeoutError):
        await socket.emit_with_ack("ignored", timeout=0.1)


async def test_binary_both_ways(sio: tidings.Server, peer_factory: Any) -> None:
    got: list[Any] = []

    @sio.event
    async def upload(socket: tidings.Socket, meta: Any) -> Any:
        got.append(meta)
        return {"echo": meta["file"]}

    peer = peer_factory()
    await peer.open()
    await peer.connect()
    await peer.post('451-5["upload",{"name":"x","file":{"_placeholder":true,"num":0}}]', "bAQID")
    assert await peer.next() == '461-5[{"echo":{"_placeholder":true,"num":0}}]'
    assert await peer.next() == "bAQID"
    assert got == [{"name": "x", "file": b"\x01\x02\x03"}]


async def test_catch_all_and_any_listeners(sio: tidings.Server, peer_factory: Any) -> None:
    incoming: list[Any] = []
    outgoing: list[Any] = []
    sio.on_any(lambda socket, event, args: incoming.append((event, args)))
    sio.on_any_outgoing(lambda socket, event, args: outgoing.append((event, args)))

    @sio.on("*")
    async def anything(socket: tidings.Socket, event: str, *args: Any) -> str:
        await socket.emit("seen", event)
        return "caught " + event

    peer = peer_factory()
    await peer.open()
    await peer.connect()
    await peer.post('423["mystery",1]')
    assert await peer.event() == ("", ["seen", "mystery"])
    assert await peer.next() == '433["caught mystery"]'
    assert incoming == [("mystery", [1])]
    assert outgoing == [("seen", ["mystery"])]


async def test_one_clients_events_run_in_order(sio: tidings.Server, peer_factory: Any) -> None:
    order: list[int] = []

    @sio.event
    async def step(socket: tidings.Socket, n: int) -> None:
        if n == 0:
            await asyncio.sleep(0.05)  # the slow first handler must still finish first
        order.append(n)

    peer = peer_factory()
    await peer.open()
    await peer.connect()
    await peer.post(*[f'42{i + 1}["step",{i}]' for i in range(5)])
    for i in range(5):
        assert await peer.next() == f"43{i + 1}[]"
    assert order == [0, 1, 2, 3, 4]


async def test_concurrent_events_option() -> None:
    sio = tidings.Server(concurrent_events=True)
    release = asyncio.Event()
    order: list[str] = []

    @sio.event
    async def slow(socket: tidings.Socket) -> None:
        await release.wait()
        order.append("slow")

    @sio.event
    async def fast(socket: tidings.Socket) -> None:
        order.append("fast")
        release.set()

    peer = PollingPeer(sio)
    await peer.open()
    await peer.connect()
    await peer.post('421["slow"]', '422["fast"]')
    assert {await peer.next(), await peer.next()} == {"431[]", "432[]"}
    assert order == ["fast", "slow"]
    await sio.shutdown(timeout=0.1)


async def test_disconnect_reasons(sio: tidings.Server, peer_factory: Any) -> None:
    reasons: list[str] = []

    @sio.event
    async def disconnect(socket: tidings.Socket, reason: str) -> None:
        reasons.append(reason)

    @sio.event
    async def kick(socket: tidings.Socket) -> None:
        await socket.disconnect()

    a, b = peer_factory(), peer_factory()
    for p in (a, b):
        await p.open()
        await p.connect()
    await a.post("41")
    await b.post('42["kick"]')
    assert await b.next() == "41"
    async with asyncio.timeout(2):
        while len(reasons) < 2:
            await asyncio.sleep(0.01)
    assert sorted(reasons) == ["client namespace disconnect", "server namespace disconnect"]


async def test_malformed_packet_closes_only_that_connection(sio: tidings.Server, peer_factory: Any) -> None:
    good, bad = peer_factory(), peer_factory()
    for p in (good, bad):
        await p.open()
        await p.connect()
    await bad.post('42["unterminated')
    assert "1" in await bad.poll()  # the engine's CLOSE packet
    await sio.emit("still", "here")
    assert await good.event() == ("", ["still", "here"])


async def test_volatile_skips_clients_that_cannot_take_it(sio: tidings.Server, peer_factory: Any) -> None:
    peer = peer_factory()
    await peer.open()
    await peer.connect()
    await sio.volatile.emit("tick", 1)  # no poll pending: dropped
    await sio.emit("tick", 2)
    assert await peer.event() == ("", ["tick", 2])


async def test_reserved_event_names_are_refused_locally(sio: tidings.Server) -> None:
    with pytest.raises(ValueError):
        await sio.emit("disconnect")


async def test_a_second_connect_to_a_joined_namespace_starts_a_new_socket(
    sio: tidings.Server, peer_factory: Any
) -> None:
    peer = peer_factory()
    await peer.open()
    first = await peer.connect()
    second = await peer.connect()
    assert first != second
    assert [s.id for s in await sio.fetch_sockets()] == [second]


async def test_broadcasts_during_the_connect_handler_follow_the_connect_reply(
    sio: tidings.Server, peer_factory: Any
) -> None:
    @sio.on("connect")
    async def connect(socket: tidings.Socket, auth: Any) -> None:
        assert socket in await sio.fetch_sockets()  # found while connecting
        await sio.emit("count", len(await sio.fetch_sockets()))
        await socket.emit("direct")

    peer = peer_factory()
    await peer.open()
    await peer.post("40")
    assert (await peer.next()).startswith("40{")
    assert await peer.event() == ("", ["count", 1])
    assert await peer.event() == ("", ["direct"])


async def test_a_stopped_server_can_be_served_again_and_gone_pollers_do_not_hold_shutdown() -> None:
    import time

    import tidings.standalone
    from tidings.client import Client

    sio = tidings.Server()
    for _ in range(2):
        async with tidings.standalone.serve(sio, "127.0.0.1", 0) as srv:
            client = Client(reconnection=False)
            await client.connect(f"http://127.0.0.1:{srv.port}", transports=("polling",))
            assert client.connected
            await client.disconnect()
            # a polling session whose client never polls again
            peer = PollingPeer(sio)
            await peer.open()
            started = time.monotonic()
        assert time.monotonic() - started < 3.0  # not the 10 s shutdown timeout


async def test_an_async_handler_without_await_answers_before_the_loop_turns(
    sio: tidings.Server, peer_factory: Any
) -> None:
    """It runs inline, in order with a slow handler queued before it, and its ack is right."""
    order: list[str] = []
    tasks_seen: list[bool] = []

    @sio.event
    async def slow(socket: tidings.Socket) -> str:
        await asyncio.sleep(0.05)
        order.append("slow")
        return "s"

    @sio.event
    async def quick(socket: tidings.Socket, n: int) -> int:
        order.append(f"quick{n}")
        tasks_seen.append(asyncio.current_task() in sio.tasks)
        return n * 2

    peer = peer_factory()
    await peer.open()
    await peer.connect()
    await peer.post('421["quick",1]')
    assert await peer.next() == "431[2]"
    assert tasks_seen == [False]  # no task of its own: it ran inside the input's handling
    # Behind a handler that suspends, it waits its turn (in a task, as any queued event).
    await peer.post('422["slow"]', '423["quick",2]')
    assert await peer.next() == '432["s"]'
    assert await peer.next() == "433[4]"
    assert order == ["quick1", "slow", "quick2"]
    assert tasks_seen == [False, True]
