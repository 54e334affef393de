"""tidings.Client against the reference Node socket.io 4.8 server and against tidings,
over websocket only, polling only, and polling upgraded to websocket."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from tidings.client import (
    AckTimeoutError,
    Client,
    ConnectError,
    DisconnectedError,
    OfflineBufferFullError,
)

from .servers import ServerHarness

BLOB = bytes(range(256))


class Inbox:
    """What client handlers received, awaited without sleeping."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()
        self.skipped: list[tuple[Any, ...]] = []  # passed over by get_kind, for later get()s

    def put(self, *item: Any) -> None:
        self.queue.put_nowait(item)

    def put_later(self, kind: str) -> Callable[..., None]:
        """A handler putting ``(kind, *its arguments)``."""
        return lambda *args: self.put(kind, *args)

    async def get(self, timeout: float = 10.0) -> tuple[Any, ...]:
        if self.skipped:
            return self.skipped.pop(0)
        async with asyncio.timeout(timeout):
            return await self.queue.get()

    async def get_kind(self, kind: str, timeout: float = 10.0) -> tuple[Any, ...]:
        """The next item whose first element is ``kind``; others are kept for ``get``."""
        for i, item in enumerate(self.skipped):
            if item[0] == kind:
                return self.skipped.pop(i)
        async with asyncio.timeout(timeout):
            while True:
                item = await self.queue.get()
                if item[0] == kind:
                    return item
                self.skipped.append(item)

    def empty(self) -> bool:
        return not self.skipped and self.queue.empty()


def quick_client(**kwargs: Any) -> Client:
    """Reconnection fast enough for tests."""
    options: dict[str, Any] = {
        "reconnection_delay": 0.05,
        "reconnection_delay_max": 0.2,
        "timeout": 5.0,
    }
    options.update(kwargs)
    return Client(**options)


async def wait_for_websocket(client: Client) -> None:
    """Round trips until the upgrade is done (each one is awaited, none is a sleep)."""
    for _ in range(200):
        if client.transport == "websocket":
            return
        await client.emit_with_ack("echo", "upgrade?")
    raise AssertionError("never upgraded")


async def test_connect_emit_and_ack(server: ServerHarness, transports: tuple[str, ...]) -> None:
    async with Client() as client:
        await client.connect(server.url, transports=transports)
        assert client.connected
        sid = client.sid
        assert sid is not None and client.get_sid("/") == sid
        record = await server.records.get("connect", nsp="/")
        assert record["sid"] == sid
        assert record["transport"] == transports[0]

        await client.emit("message", "hello", 42, {"nested": [1, 2.5, None, True]})
        event = await server.records.get("event", event="message")
        assert event["args"] == ["hello", 42, {"nested": [1, 2.5, None, True]}]
        assert event["sid"] == sid

        reply = await client.emit_with_ack("echo", "one")
        assert reply == "one"
        reply = await client.emit_with_ack("echo", 1, "two", [3])
        assert reply == (1, "two", [3])
        assert await client.emit_with_ack("echo") is None

        if transports == ("polling", "websocket"):
            await wait_for_websocket(client)
            assert await client.emit_with_ack("echo", "after upgrade") == "after upgrade"
        assert client.transport == transports[-1]
    assert not client.connected
    record = await server.records.get("disconnect", sid=sid)
    assert record["reason"] == "client namespace disconnect"


async def test_binary_anywhere_both_ways(
    server: ServerHarness, transports: tuple[str, ...]
) -> None:
    inbox = Inbox()
    client = Client()

    @client.on("files")
    async def files(first: Any, second: Any) -> Any:
        inbox.put(first, second)
        return {"got": [b"\x00ack", len(second["parts"])]}

    await client.connect(server.url, transports=transports)
    try:
        payload = [BLOB, {"parts": [b"a", {"deep": b"\xff" * 1000}], "text": "t"}]
        reply = await client.emit_with_ack("echo", *payload)
        assert reply == tuple(payload)
        await client.emit("upload", {"file": BLOB}, b"")
        event = await server.records.get("event", event="upload")
        assert event["args"] == [{"file": BLOB}, b""]

        assert client.sid is not None
        answer = await server.ask(client.sid, "files", b"\x01\x02", {"parts": [b"x", b"y"]})
        assert await inbox.get() == (b"\x01\x02", {"parts": [b"x", b"y"]})
        assert answer == {"got": [b"\x00ack", 2]}
    finally:
        await client.disconnect()


async def test_server_events_handlers_and_catch_all(
    server: ServerHarness, transports: tuple[str, ...]
) -> None:
    inbox = Inbox()
    client = Client()

    @client.event
    def news(headline: str, body: Any) -> None:  # a plain function works too
        inbox.put("news", headline, body)

    @client.on("*")
    async def other(event: str, *args: Any) -> str:
        inbox.put("*", event, args)
        return "caught"

    client.on_any(lambda event, args: inbox.put("any", event, args))

    await client.connect(server.url, transports=transports)
    try:
        assert client.sid is not None
        await server.emit("news", "hi", {"n": 1}, sid=client.sid)
        assert await inbox.get() == ("any", "news", ["hi", {"n": 1}])
        assert await inbox.get() == ("news", "hi", {"n": 1})

        await server.emit("unknown", 1, sid=client.sid)
        assert await inbox.get() == ("any", "unknown", [1])
        assert await inbox.get() == ("*", "unknown", (1,))
        # the catch-all's return value is the ack too
        assert await server.ask(client.sid, "also-unknown") == "caught"

        # fewer arguments than declared are padded; more are dropped
        await server.emit("news", "only", sid=client.sid)
        assert await inbox.get_kind("news") == ("news", "only", None)
        await server.emit("news", "a", "b", "extra", sid=client.sid)
        assert await inbox.get_kind("news") == ("news", "a", "b")
    finally:
        await client.disconnect()


async def test_namespaces_share_one_connection(
    server: ServerHarness, transports: tuple[str, ...]
) -> None:
    client = Client()
    connected: list[str] = []

    @client.on("connect", namespace="/admin")
    def on_admin_connect() -> None:
        connected.append("/admin")

    await client.connect(server.url, namespaces=["/", "/admin"], transports=transports)
    try:
        root = await server.records.get("connect", nsp="/")
        admin = await server.records.get("connect", nsp="/admin")
        assert root["conn"] == admin["conn"]  # one Engine.IO connection
        assert client.get_sid("/") == root["sid"]
        assert client.get_sid("/admin") == admin["sid"]
        assert set(client.namespaces) == {"/", "/admin"}

        assert await client.emit_with_ack("echo", "in admin", namespace="/admin") == "in admin"
        record = await server.records.get("event", event="echo", nsp="/admin")
        assert record["sid"] == admin["sid"]
        await client.emit_with_ack("echo", "sync")  # the connect handler ran before this ack
        assert connected == ["/admin"]
    finally:
        await client.disconnect()


async def test_namespace_from_url_auth_headers_and_query(
    server: ServerHarness, transports: tuple[str, ...]
) -> None:
    calls = 0

    async def auth() -> dict[str, Any]:
        nonlocal calls
        calls += 1
        return {"token": "good", "n": calls}

    async with Client() as client:
        await client.connect(
            server.url + "/admin?room=lobby",
            auth=auth,
            headers={"X-Test": "yes"},
            transports=transports,
        )
        record = await server.records.get("connect", nsp="/admin")
        assert record["auth"] == {"token": "good", "n": 1}
        assert record["header"] == "yes"
        assert record["query"]["room"] == "lobby"
        assert client.sid == record["sid"]
        assert client.get_sid("/") is None  # only the URL's namespace


async def test_refused_namespace_raises_connect_error(
    server: ServerHarness, transports: tuple[str, ...]
) -> None:
    client = Client()
    errors: list[ConnectError] = []
    client.on("connect_error", errors.append, namespace="/admin")
    with pytest.raises(ConnectError) as info:
        await client.connect(
            server.url, namespaces="/admin", auth={"token": "bad"}, transports=transports
        )
    assert info.value.message == "not allowed"
    assert info.value.data == {"code": 403}
    assert not client.connected
    await client.wait()  # not connected: returns at once
    assert [e.message for e in errors] == ["not allowed"]
    with pytest.raises(DisconnectedError):
        await client.emit("x")


async def test_unknown_server_fails_fast() -> None:
    client = Client(timeout=5)
    with pytest.raises(ConnectError):
        await client.connect("http://127.0.0.1:9", transports=("polling",))
    with pytest.raises(ConnectError):
        await client.connect("http://127.0.0.1:9", transports=("websocket",))


async def test_server_disconnects_namespace(
    server: ServerHarness, transports: tuple[str, ...]
) -> None:
    inbox = Inbox()
    client = quick_client()
    client.on("disconnect", lambda reason: inbox.put("disconnect", reason))
    client.on("reconnect_attempt", lambda n: inbox.put("reconnect_attempt", n))
    await client.connect(server.url, transports=transports)
    assert client.sid is not None
    await server.disconnect(client.sid)
    assert await inbox.get() == ("disconnect", "io server disconnect")
    async with asyncio.timeout(10):
        await client.wait()  # the only namespace is gone: disconnected for good
    assert not client.connected
    assert inbox.empty()  # and no reconnection was tried


async def test_client_disconnect(server: ServerHarness, transports: tuple[str, ...]) -> None:
    inbox = Inbox()
    client = Client()
    client.on("disconnect", lambda reason: inbox.put("disconnect", reason))
    await client.connect(server.url, transports=transports)
    sid = client.sid
    waiter = asyncio.create_task(client.wait())
    await client.emit("last words", 1)
    await client.disconnect()
    await waiter
    assert await inbox.get() == ("disconnect", "io client disconnect")
    await server.records.get("event", event="last words")  # flushed before closing
    await server.records.get("disconnect", sid=sid)
    with pytest.raises(DisconnectedError):
        await client.emit("late")
    await client.disconnect()  # idempotent


async def test_ack_timeout(server: ServerHarness, transports: tuple[str, ...]) -> None:
    client = Client()
    await client.connect(server.url, transports=transports)
    try:
        with pytest.raises(AckTimeoutError):
            await client.emit_with_ack("noack", timeout=0.2)  # the server never answers it
        assert await client.emit_with_ack("echo", 1, timeout=5) == 1  # still fine afterwards
    finally:
        await client.disconnect()


async def test_sent_acks_fail_when_the_connection_drops(server: ServerHarness) -> None:
    client = quick_client()
    await client.connect(server.url, transports=("websocket",))
    try:
        pending = asyncio.create_task(client.emit_with_ack("noack", timeout=30))
        await server.records.get("event", event="noack")  # sent and received
        assert client.sid is not None
        await server.close_connection(client.sid)
        with pytest.raises(DisconnectedError):
            await pending
        pending = asyncio.create_task(client.emit_with_ack("noack", timeout=30))
        await client.disconnect()
        with pytest.raises(DisconnectedError):
            await pending
    finally:
        await client.disconnect()


async def test_reconnects_after_the_connection_drops(
    server: ServerHarness, transports: tuple[str, ...]
) -> None:
    inbox = Inbox()
    client = quick_client()
    client.on("connect", lambda: inbox.put("connect"))
    client.on("disconnect", lambda reason: inbox.put("disconnect", reason))
    client.on("reconnect_attempt", lambda n: inbox.put("reconnect_attempt", n))
    client.on("reconnect", lambda n: inbox.put("reconnect", n))
    await client.connect(server.url, transports=transports)
    try:
        assert await inbox.get() == ("connect",)
        first_sid = client.sid
        assert first_sid is not None
        await server.close_connection(first_sid)
        assert await inbox.get() == ("disconnect", "transport close")
        # emits while disconnected wait in the offline buffer
        await client.emit("buffered", 1)
        acked = asyncio.create_task(client.emit_with_ack("echo", "buffered ack"))
        assert await inbox.get() == ("reconnect_attempt", 1)
        assert await inbox.get() == ("reconnect", 1)
        assert await inbox.get() == ("connect",)
        assert client.connected
        assert client.sid != first_sid
        assert await acked == "buffered ack"
        event = await server.records.get("event", event="buffered")
        assert event["sid"] == client.sid
        assert not client.recovered
    finally:
        await client.disconnect()


async def test_offline_buffer_is_bounded(server: ServerHarness) -> None:
    client = quick_client(max_offline_packets=2, reconnection_delay=5, reconnection_delay_max=5)
    disconnected = asyncio.Event()
    client.on("disconnect", lambda reason: disconnected.set())
    await client.connect(server.url, transports=("websocket",))
    try:
        assert client.sid is not None
        await server.close_connection(client.sid)
        async with asyncio.timeout(10):
            await disconnected.wait()
        await client.emit("a")
        await client.emit("b")
        with pytest.raises(OfflineBufferFullError):
            await client.emit("c")
    finally:
        await client.disconnect()


async def test_server_restart(
    server_kind: str, make_server: Any, transports: tuple[str, ...]
) -> None:
    server = await make_server(server_kind)
    inbox = Inbox()
    client = quick_client()
    client.on("disconnect", lambda reason: inbox.put("disconnect", reason))
    client.on("reconnect_error", lambda err: inbox.put("reconnect_error", type(err).__name__))
    client.on("reconnect", lambda n: inbox.put("reconnect", n))
    client.on("connect", lambda: inbox.put("connect"))
    await client.connect(server.url, transports=transports)
    try:
        assert await inbox.get() == ("connect",)
        await server.stop()
        kind, reason = await inbox.get()
        assert kind == "disconnect" and reason in ("transport close", "transport error")
        assert await inbox.get_kind("reconnect_error") == ("reconnect_error", "ConnectError")
        await client.emit("while down", "x")
        await server.start()  # same port
        kind, attempts = await inbox.get_kind("reconnect")
        assert attempts >= 2
        assert await inbox.get_kind("connect") == ("connect",)
        event = await server.records.get("event", event="while down")
        assert event["args"] == ["x"] and event["sid"] == client.sid
    finally:
        await client.disconnect()


async def test_reconnect_failed_gives_up(server_kind: str, make_server: Any) -> None:
    server = await make_server(server_kind)
    inbox = Inbox()
    client = quick_client(reconnection_attempts=2)
    client.on("reconnect_attempt", lambda n: inbox.put("reconnect_attempt", n))
    client.on("reconnect_error", lambda err: inbox.put("reconnect_error"))
    client.on("reconnect_failed", lambda: inbox.put("reconnect_failed"))
    await client.connect(server.url, transports=("websocket",))
    buffered_ack = asyncio.create_task(asyncio.sleep(0))
    try:
        await server.stop()
        assert await inbox.get() == ("reconnect_attempt", 1)
        buffered_ack = asyncio.create_task(client.emit_with_ack("echo", "never"))
        assert await inbox.get() == ("reconnect_error",)
        assert await inbox.get() == ("reconnect_attempt", 2)
        assert await inbox.get() == ("reconnect_error",)
        assert await inbox.get() == ("reconnect_failed",)
        async with asyncio.timeout(10):
            await client.wait()
        with pytest.raises(DisconnectedError):
            await buffered_ack
    finally:
        await client.disconnect()


async def test_no_reconnection_when_disabled(server: ServerHarness) -> None:
    client = quick_client(reconnection=False)
    reasons: list[str] = []
    client.on("disconnect", reasons.append)
    await client.connect(server.url, transports=("websocket",))
    assert client.sid is not None
    await server.close_connection(client.sid)
    async with asyncio.timeout(10):
        await client.wait()
    assert reasons == ["transport close"]


async def test_handler_may_disconnect_the_client(server: ServerHarness) -> None:
    client = Client()

    @client.event
    async def bye() -> None:
        await client.disconnect()

    await client.connect(server.url, transports=("websocket",))
    assert client.sid is not None
    await server.emit("bye", sid=client.sid)
    async with asyncio.timeout(10):
        await client.wait()
    assert not client.connected


async def test_misuse_raises_at_once(server: ServerHarness) -> None:
    client = Client()
    with pytest.raises(DisconnectedError):
        await client.emit("not connected")
    with pytest.raises(ValueError):
        client.on("x", lambda: None, namespace="no-slash")
    await client.connect(server.url, transports=("websocket",))
    try:
        with pytest.raises(RuntimeError):
            await client.connect(server.url)
        with pytest.raises(ValueError):
            await client.emit("connect")  # reserved
        with pytest.raises(TypeError):
            await client.emit("x", object())  # not serializable
        with pytest.raises(DisconnectedError):
            await client.emit("x", namespace="/not-joined")
    finally:
        await client.disconnect()


async def test_concurrent_events(make_server: Any) -> None:
    server = await make_server("tidings")
    release = asyncio.Event()
    order: list[str] = []
    client = Client(concurrent_events=True)

    @client.event
    async def first() -> None:
        await release.wait()  # would block every later event if handlers ran one at a time
        order.append("first")

    @client.event
    async def second() -> None:
        order.append("second")
        release.set()

    await client.connect(server.url, transports=("websocket",))
    try:
        assert client.sid is not None
        await server.emit("first", sid=client.sid)
        await server.emit("second", sid=client.sid)
        async with asyncio.timeout(10):
            while len(order) < 2:
                await client.emit_with_ack("echo", "tick")
        assert order == ["second", "first"]
    finally:
        await client.disconnect()
