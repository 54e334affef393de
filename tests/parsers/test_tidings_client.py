"""tidings.Client with ``parser="msgpack"`` against Node socket.io 4.8 with
socket.io-msgpack-parser (and against tidings with the same parser), in each transport mode."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.client.servers import NodeServer, ServerHarness, TidingsServer
from tidings.client import Client, ConnectError

BLOB = bytes(range(256))
MODES = {"websocket": ("websocket",), "polling": ("polling",), "upgrade": ("polling", "websocket")}


@pytest.fixture(params=list(MODES))
def transports(request: pytest.FixtureRequest) -> tuple[str, ...]:
    return MODES[request.param]


@pytest.fixture(params=["node", "tidings"])
async def server(request: pytest.FixtureRequest) -> AsyncIterator[ServerHarness]:
    harness: ServerHarness
    if request.param == "node":
        harness = NodeServer(request.getfixturevalue("node_bin"), parser="msgpack")
    else:
        harness = TidingsServer(parser="msgpack")
    await harness.start()
    try:
        yield harness
    finally:
        await harness.stop()


async def test_every_feature(server: ServerHarness, transports: tuple[str, ...]) -> None:
    seen: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
    client = Client(parser="msgpack", reconnection=False, timeout=5.0)

    @client.on("files")
    def files(*args: Any) -> None:
        seen.put_nowait(("files", list(args)))

    @client.on("question")
    def question(*args: Any) -> Any:
        return {"answer": args, "bin": b"\x00\x01\x02"}

    @client.on("news", namespace="/admin")
    def news(*args: Any) -> None:
        seen.put_nowait(("news", list(args)))

    @client.on("disconnect")
    def disconnect(reason: str) -> None:
        seen.put_nowait(("disconnect", reason))

    await client.connect(server.url, ["/", "/admin"], auth={"token": "ok", "n": 1}, transports=transports)
    try:
        sid = client.get_sid("/")
        record = await server.records.get("connect", nsp="/")
        assert record["sid"] == sid and record["auth"] == {"token": "ok", "n": 1}
        await server.records.get("connect", nsp="/admin")

        # Client to server: an event, then acks with every kind of value, binary included.
        await client.emit("message", "hello", 42, {"nested": [1, 2.5, None, True]})
        event = await server.records.get("event", event="message")
        assert event["args"] == ["hello", 42, {"nested": [1, 2.5, None, True]}]
        payload = [BLOB, {"parts": [b"", b"a", {"deep": b"\xff" * 40_000}], "text": "t"}]
        assert await client.emit_with_ack("echo", *payload) == tuple(payload)
        assert await client.emit_with_ack("echo", "x", namespace="/admin") == "x"

        # Server to client: an event to this socket, a broadcast, and an ack from the client.
        await server.emit("files", b"\x00bin", [b"x" * 300], sid=sid)
        assert await seen.get() == ("files", [b"\x00bin", [b"x" * 300]])
        await server.emit("news", "to all", BLOB, nsp="/admin")
        assert await seen.get() == ("news", ["to all", BLOB])
        answer = await server.ask(sid, "question", "why", b"\xfe")
        assert answer == {"answer": ["why", b"\xfe"], "bin": b"\x00\x01\x02"}

        # The server closes the namespace.
        await server.disconnect(sid)
        assert await seen.get() == ("disconnect", "io server disconnect")
    finally:
        await client.disconnect()


async def test_connect_error(server: ServerHarness) -> None:
    client = Client(parser="msgpack", reconnection=False, timeout=5.0)
    with pytest.raises(ConnectError) as caught:
        await client.connect(server.url, "/admin", auth={"token": "bad"}, transports=("websocket",))
    assert caught.value.message == "not allowed"
    assert caught.value.data == {"code": 403}
    await client.disconnect()


@pytest.mark.parametrize("kind", ["node", "tidings"])
async def test_connection_state_recovery(kind: str, request: pytest.FixtureRequest) -> None:
    """What a client missed (binary included) is replayed in the parser's format: tidings
    keeps it as JSON in its history, and encodes it for the client on the way out."""
    harness: ServerHarness
    if kind == "node":
        harness = NodeServer(request.getfixturevalue("node_bin"), parser="msgpack", recovery=True)
    else:
        harness = TidingsServer(parser="msgpack", connection_state_recovery=True)
    await harness.start()
    seen: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()
    client = Client(
        parser="msgpack", reconnection_delay=0.2, reconnection_delay_max=0.2,
        randomization_factor=0, timeout=5.0,
    )
    client.on("news", lambda *args: seen.put_nowait(("news", *args)))
    client.on("connect", lambda: seen.put_nowait(("connect",)))
    try:
        await client.connect(harness.url, transports=("websocket",))
        assert await seen.get() == ("connect",)
        sid = client.sid
        assert sid is not None
        await harness.emit("news", "a", b"\x00")
        news = await seen.get()  # a handler taking *args sees the offset last
        assert news[:3] == ("news", "a", b"\x00") and isinstance(news[3], str)
        await harness.close_connection(sid)
        await harness.records.get("disconnect", sid=sid)
        await harness.emit("news", "missed", b"\x01", {"when": b"\x02"})
        # Node replays before its CONNECT reply, tidings after: either way, both arrive.
        items = sorted([await seen.get(), await seen.get()], key=lambda item: item[0])
        assert items[0] == ("connect",)
        missed = items[1]
        assert missed[:4] == ("news", "missed", b"\x01", {"when": b"\x02"})
        assert isinstance(missed[4], str) and missed[4] != news[3]
        assert client.recovered and client.sid == sid
    finally:
        await client.disconnect()
        await harness.stop()
