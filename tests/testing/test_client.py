"""tidings.testing: a client of a Server in the same loop, through the real core, in memory."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import tidings
import tidings.testing
from tidings.testing import Received, TestClient


def chat_server() -> tidings.Server:
    sio = tidings.Server()

    @sio.use
    async def authenticate(socket: tidings.Socket) -> None:
        token = (socket.handshake.auth or {}).get("token")
        if token is None:
            raise tidings.ConnectionRefusedError("not authorized", data={"code": 401})
        socket.data["user"] = token

    @sio.event
    async def shout(socket: tidings.Socket, text: str) -> str:
        return text.upper()

    @sio.event
    def pair(socket: tidings.Socket) -> tuple[int, str]:
        return 1, "two"

    @sio.event
    def nothing(socket: tidings.Socket) -> None:
        return None

    @sio.event
    async def echo(socket: tidings.Socket, *args: Any) -> None:
        await socket.emit("echo", *args)

    return sio


async def test_connect_with_auth_headers_and_query() -> None:
    sio = chat_server()
    async with tidings.testing.connect(
        sio, auth={"token": "t"}, headers={"X-Trace": "42"}, query={"room": "r1"},
        address="10.0.0.7",
    ) as client:
        socket = client.socket
        assert socket.id == client.sid and len(client.sid) == 20
        assert socket.data["user"] == "t"
        assert socket.handshake.auth == {"token": "t"}
        assert socket.handshake.headers["x-trace"] == "42"
        assert socket.handshake.headers["host"] == "testserver"
        assert socket.handshake.query["room"] == "r1"
        assert socket.handshake.address == "10.0.0.7"
        assert socket.transport == "websocket"
        assert client.connected and client.disconnect_reason is None


async def test_ack_shapes_are_tidings_clients() -> None:
    sio = chat_server()
    async with tidings.testing.connect(sio, auth={"token": "t"}) as client:
        assert await client.emit_with_ack("shout", "hi") == "HI"
        assert await client.emit_with_ack("pair") == (1, "two")
        assert await client.emit_with_ack("nothing") is None


async def test_emit_receive_event_and_received() -> None:
    sio = chat_server()
    async with tidings.testing.connect(sio, auth={"token": "t"}) as client:
        await client.emit("echo", "a", 1)
        await client.emit("echo", {"b": [2]})
        await client.emit("chat")  # no handler: the server drops it
        assert await client.receive() == Received("echo", ("a", 1))
        event, args = await client.receive()
        assert (event, args) == ("echo", ({"b": [2]},))
        assert client.received == [Received("echo", ("a", 1)), Received("echo", ({"b": [2]},))]


async def test_event_picks_by_name_and_leaves_the_others() -> None:
    sio = tidings.Server()

    @sio.on("connect")
    async def connect(socket: tidings.Socket, auth: Any) -> None:
        await socket.emit("first", 1)
        await socket.emit("news", "hello")

    async with tidings.testing.connect(sio) as client:
        assert await client.event("news") == ("hello",)
        assert await client.receive() == ("first", (1,))


async def test_a_wait_that_fails_says_what_arrived() -> None:
    sio = chat_server()
    async with tidings.testing.connect(sio, auth={"token": "t"}, timeout=0.05) as client:
        await client.emit("echo", "x")
        assert await client.event("echo") == ("x",)  # taken, and still named below
        with pytest.raises(TimeoutError, match=r"no event 'news' on / within 0.05s; received: echo\['x'\]"):
            await client.event("news")


async def test_refused_connections_carry_message_and_data() -> None:
    sio = chat_server()
    with pytest.raises(tidings.ConnectionRefusedError) as info:
        async with tidings.testing.connect(sio):
            pass
    assert info.value.message == "not authorized"
    assert info.value.data == {"code": 401}
    with pytest.raises(tidings.ConnectionRefusedError, match="Invalid namespace"):
        async with tidings.testing.connect(sio, "/nowhere", auth={"token": "t"}):
            pass
    assert sio.engine.sockets == {}  # the refused connection was closed


async def test_connect_handler_returning_false_refuses() -> None:
    sio = tidings.Server()
    sio.on("connect", lambda socket, auth: False)
    with pytest.raises(tidings.ConnectionRefusedError, match="Connection rejected by server"):
        async with tidings.testing.connect(sio):
            pass


async def test_the_engine_refusing_the_upgrade_is_a_refusal_too() -> None:
    sio = tidings.Server(transports=("polling",))
    with pytest.raises(tidings.ConnectionRefusedError) as info:
        async with tidings.testing.connect(sio):
            pass
    assert info.value.message == "Transport unknown"
    assert info.value.data == {"status": 400, "code": 0}
    sio = tidings.Server(cors_allowed_origins=["https://app.example"])
    with pytest.raises(tidings.ConnectionRefusedError, match="Forbidden"):
        async with tidings.testing.connect(sio, headers={"Origin": "https://evil.example"}):
            pass
    async with tidings.testing.connect(sio, headers={"Origin": "https://app.example"}) as client:
        assert client.connected


async def test_binary_arguments_both_ways() -> None:
    sio = tidings.Server()

    @sio.event
    async def upload(socket: tidings.Socket, name: str, data: bytes, meta: dict[str, Any]) -> Any:
        assert isinstance(data, bytes)
        await socket.emit("stored", name, data[::-1], {"parts": [meta["part"], b"\xff"]})
        return {"size": len(data), "head": data[:1]}

    async with tidings.testing.connect(sio) as client:
        reply = await client.emit_with_ack("upload", "f", b"\x00\x01\x02", {"part": b"\x10"})
        assert reply == {"size": 3, "head": b"\x00"}
        assert await client.event("stored") == ("f", b"\x02\x01\x00", {"parts": [b"\x10", b"\xff"]})
        async with tidings.testing.connect(sio) as other:
            await sio.emit("blob", b"\x00", [b"\x01", "text"])  # encoded once for both
            for each in (client, other):
                assert await each.event("blob") == (b"\x00", [b"\x01", "text"])


async def test_the_client_answers_the_servers_acks() -> None:
    sio = tidings.Server()
    answers: list[Any] = []

    @sio.event
    async def ask(socket: tidings.Socket) -> None:
        answers.append(await socket.emit_with_ack("question", 2, timeout=1))
        answers.append(await socket.emit_with_ack("slow", b"\x01", timeout=1))
        answers.append(await socket.emit_with_ack("other", "x", timeout=1))
        answers.append(await socket.emit_with_ack("unnamed", timeout=1))

    async with tidings.testing.connect(sio) as client:
        client.on("question", lambda n: (n * 2, "doubled"))

        @client.on("slow")
        async def slow(data: bytes) -> bytes:
            await asyncio.sleep(0)
            return data + b"\x02"

        client.on("*", lambda event, *args: f"any {event} {args}")
        await client.emit("ask")
        await tidings.testing.settle(sio)
        assert answers == [(4, "doubled"), b"\x01\x02", "any other ('x',)", "any unnamed ()"]
        assert [r.event for r in client.received] == ["question", "slow", "other", "unnamed"]


async def test_an_event_with_no_client_handler_is_recorded_and_never_acknowledged() -> None:
    sio = tidings.Server()

    @sio.event
    async def ask(socket: tidings.Socket) -> str:
        try:
            await socket.emit_with_ack("question", 1, timeout=0.05)
        except tidings.AckTimeoutError:
            return "timed out"
        return "answered"

    async with tidings.testing.connect(sio) as client:
        assert await client.emit_with_ack("ask") == "timed out"
        assert client.received == [("question", (1,))]


async def test_lifecycle_names_are_not_events() -> None:
    async with tidings.testing.connect(tidings.Server()) as client:
        with pytest.raises(ValueError, match="disconnected"):
            client.on("disconnect", print)


async def test_an_error_in_a_client_handler_fails_the_test() -> None:
    sio = tidings.Server()

    @sio.event
    async def ask(socket: tidings.Socket) -> None:
        await socket.emit("boom")

    with pytest.raises(ZeroDivisionError):
        async with tidings.testing.connect(sio) as client:
            client.on("boom", lambda: 1 / 0)
            await client.emit("ask")
            await client.event("boom")


async def test_multiple_namespaces_share_one_connection() -> None:
    sio = tidings.Server()
    admin = sio.of("/admin")

    @admin.use
    async def only_admins(socket: tidings.Socket) -> None:
        if socket.handshake.auth.get("role") != "admin":
            raise tidings.ConnectionRefusedError("admins only")

    @admin.event
    async def stats(socket: tidings.Socket) -> dict[str, int]:
        await socket.emit("report", "on admin")
        return {"users": len(sio.sockets.sockets)}

    @sio.event
    async def hello(socket: tidings.Socket) -> None:
        await socket.emit("report", "on main")

    async with tidings.testing.connect(sio) as main:
        with pytest.raises(tidings.ConnectionRefusedError, match="admins only"):
            await main.connect_namespace("/admin")
        admin_client = await main.connect_namespace("/admin", auth={"role": "admin"})
        assert admin_client.namespace == "/admin" and admin_client.sid != main.sid
        assert admin_client.socket.conn is main.socket.conn  # one Engine.IO connection
        assert await admin_client.emit_with_ack("stats") == {"users": 1}
        await main.emit("hello")
        assert await main.event("report") == ("on main",)
        assert await admin_client.event("report") == ("on admin",)
        await admin_client.disconnect()
        assert admin_client.disconnect_reason == "io client disconnect"
        assert main.connected  # the connection stays for the other namespace
        assert await main.emit_with_ack("hello") is None


async def test_dynamic_namespaces() -> None:
    import re

    sio = tidings.Server()
    teams = sio.of(re.compile(r"^/team-\d+$"))
    teams.on("where", lambda socket: socket.namespace)
    client: TestClient
    async with tidings.testing.connect(sio, "/team-7") as client:
        assert await client.emit_with_ack("where") == "/team-7"
        assert client.socket.namespace == "/team-7"


async def test_rooms_and_broadcasts_reach_the_right_clients() -> None:
    sio = tidings.Server()

    @sio.event
    async def join(socket: tidings.Socket, room: str) -> None:
        socket.join(room)

    @sio.event
    async def say(socket: tidings.Socket, room: str, text: str) -> None:
        await socket.to(room).emit("said", text)

    @sio.event
    async def everyone(socket: tidings.Socket) -> None:
        await sio.emit("all", "done")

    async with (
        tidings.testing.connect(sio) as alice,
        tidings.testing.connect(sio) as bob,
        tidings.testing.connect(sio) as carol,
    ):
        await alice.emit_with_ack("join", "blue")
        await bob.emit_with_ack("join", "blue")
        await carol.emit_with_ack("join", "red")
        assert bob.socket.rooms == {bob.sid, "blue"}
        await alice.emit("say", "blue", "hi blue")
        assert await bob.event("said") == ("hi blue",)
        await alice.emit("everyone")
        for client in (alice, bob, carol):
            assert await client.event("all") == ("done",)
        # One connection keeps order: what came before "all" is all there is.
        assert [r.event for r in alice.received] == ["all"]  # not the sender
        assert [r.event for r in carol.received] == ["all"]  # not in the room


async def test_disconnect_from_the_client() -> None:
    sio = tidings.Server()
    reasons: list[str] = []

    @sio.on("disconnect")
    async def gone(socket: tidings.Socket, reason: str) -> None:
        await asyncio.sleep(0)
        reasons.append(reason)

    async with tidings.testing.connect(sio) as client:
        socket = client.socket
        await client.disconnect()
        assert not client.connected
        assert client.disconnect_reason == "io client disconnect"
        assert not socket.connected
        with pytest.raises(tidings.DisconnectedError):
            await client.emit("anything")
        with pytest.raises(LookupError):
            _ = client.socket
    # The server's shutdown, when the last test client left, waited for the handler.
    assert reasons == ["client namespace disconnect"]


async def test_disconnect_from_the_server() -> None:
    sio = tidings.Server()

    @sio.event
    async def kick(socket: tidings.Socket, close: bool) -> None:
        await socket.emit("bye")
        await socket.disconnect(close=close)

    async with tidings.testing.connect(sio) as client:
        await client.emit("kick", False)
        assert await client.disconnected() == "io server disconnect"
        assert await client.event("bye") == ()  # what came before the DISCONNECT is kept
        with pytest.raises(tidings.DisconnectedError, match="io server disconnect"):
            await client.receive()
    async with tidings.testing.connect(sio) as client:
        await client.emit("kick", True)
        assert await client.disconnected() == "io server disconnect"
        assert sio.engine.sockets == {}
    async with tidings.testing.running(sio), tidings.testing.connect(sio) as client:
        await sio.shutdown()
        assert await client.disconnected() == "transport close"


async def test_an_ack_awaited_when_the_server_leaves_fails_at_once() -> None:
    sio = tidings.Server()

    @sio.event
    async def hang(socket: tidings.Socket) -> None:
        await socket.disconnect()

    async with tidings.testing.connect(sio) as client:
        with pytest.raises(tidings.DisconnectedError):
            await client.emit_with_ack("hang", timeout=5)
        with pytest.raises(tidings.AckTimeoutError):
            async with tidings.testing.connect(sio) as other:
                await other.emit_with_ack("no such handler", timeout=0.05)


async def test_drop_is_a_lost_connection() -> None:
    sio = tidings.Server()
    reasons: list[str] = []
    sio.on("disconnect", lambda socket, reason: reasons.append(reason))
    async with tidings.testing.connect(sio) as client:
        await client.drop()
        assert client.disconnect_reason == "transport close"
    assert reasons == ["transport close"]


async def test_recovery_after_a_lost_connection() -> None:
    sio = tidings.Server(connection_state_recovery=True)

    @sio.event
    async def join(socket: tidings.Socket, room: str) -> None:
        socket.join(room)

    async with tidings.testing.running(sio):
        async with tidings.testing.connect(sio, auth={"token": "t"}) as client:
            await client.emit_with_ack("join", "news")
            await sio.to("news").emit("item", 1)
            assert (await client.event("item"))[0] == 1
            await client.drop()
        await sio.to("news").emit("item", 2)  # while the client is away
        async with client.reconnect() as again:
            assert again.recovered and again.sid == client.sid
            assert again.socket.handshake.auth["token"] == "t"
            assert (await again.event("item"))[0] == 2
            assert "news" in again.socket.rooms
        async with tidings.testing.connect(sio) as fresh:
            assert not fresh.recovered


async def test_settle_waits_for_handlers_that_await() -> None:
    sio = tidings.Server()
    done: list[str] = []
    gate = asyncio.Event()

    @sio.event
    async def work(socket: tidings.Socket, name: str) -> None:
        await gate.wait()
        done.append(name)

    async with tidings.testing.connect(sio) as client:
        await client.emit("work", "a")
        await client.emit("work", "b")
        assert done == []
        with pytest.raises(TimeoutError, match="still running"):
            await tidings.testing.settle(sio, timeout=0.05)
        gate.set()
        await tidings.testing.settle(sio)
        assert done == ["a", "b"]


async def test_a_message_over_the_servers_limit_closes_the_connection() -> None:
    sio = tidings.Server(max_http_buffer_size=1000)
    sio.on("big", lambda socket, data: len(data))
    async with tidings.testing.connect(sio) as client:
        assert await client.emit_with_ack("big", "x" * 900) == 900
        await client.emit("big", "x" * 2000)
        assert client.disconnect_reason == "transport close"
        assert sio.engine.sockets == {}


async def test_startup_runs_once_and_shutdown_with_the_last_client() -> None:
    sio = tidings.Server()
    async with tidings.testing.connect(sio) as first:
        async with tidings.testing.connect(sio) as second:
            assert len(sio.engine.sockets) == 2
            await second.disconnect()
        assert first.connected  # the second leaving did not shut the server down
    assert sio.engine.sockets == {}


def test_one_server_in_many_loops() -> None:
    """A module-level server used by tests that each have their own loop (pytest's way)."""
    sio = chat_server()

    async def one_test() -> None:
        async with tidings.testing.connect(sio, auth={"token": "t"}) as client:
            assert await client.emit_with_ack("shout", "x") == "X"
            await client.emit("echo", 1)
            assert await client.event("echo") == (1,)

    for _ in range(3):
        asyncio.run(one_test())


async def test_a_server_the_test_serves_itself() -> None:
    import tidings.standalone

    sio = chat_server()
    async with tidings.standalone.serve(sio, "127.0.0.1", 0):
        async with tidings.testing.connect(sio, auth={"token": "t"}, lifespan=False) as client:
            assert await client.emit_with_ack("shout", "s") == "S"
        async with tidings.testing.connect(sio, auth={"token": "t"}, lifespan=False) as client:
            assert await client.emit_with_ack("shout", "again") == "AGAIN"


async def test_the_client_answers_pings() -> None:
    sio = tidings.Server(ping_interval=0.02, ping_timeout=0.02)
    sio.on("echo", lambda socket, value: value)
    async with tidings.testing.connect(sio) as client:
        # No event to await: time passes over many ping periods, and the session lives.
        await asyncio.sleep(0.3)
        assert client.connected
        assert await client.emit_with_ack("echo", 7) == 7
