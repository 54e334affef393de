"""``compress(False)`` across a Redis cluster: the flag travels in the broadcast's
``flags`` (``{"compress": false}``, as Node's redis adapter sends it) and the receiving node
sends the message uncompressed to its permessage-deflate clients. The local bus of
``tidings serve --workers`` reuses the classic format: it carries the flag too."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

import tidings
import tidings.standalone
from tests.adapters.redis.conftest import SHARED_REDIS
from tests.compression.counting import count_deflates
from tidings.adapters.base import BroadcastFlags, BroadcastOptions
from tidings.adapters.localbus import BusHub, LocalBusAdapter
from tidings.adapters.redis import RedisAdapter
from tidings.adapters.redis.adapter import options_of, target_of
from tidings.adapters.redis.messages import Target
from tidings.ids import Room

DATA = "".join(f"item {i}: some repetitive payload; " for i in range(70))[:2048]


def test_flag_on_the_wire_only_when_false() -> None:
    plain = BroadcastOptions(frozenset({Room("r")}))
    assert target_of(plain).flags == {}  # the default path sends what it always sent
    off = BroadcastOptions(frozenset({Room("r")}), flags=BroadcastFlags(volatile=True, compress=False))
    assert target_of(off).flags == {"volatile": True, "compress": False}
    assert options_of(target_of(off)).flags == BroadcastFlags(volatile=True, compress=False)
    # As Node's engine.io: only ``false`` turns compression off.
    for flags, expected in (({"compress": False}, False), ({"compress": True}, True), ({}, True),
                            ({"compress": None}, True)):
        assert options_of(Target(("r",), (), flags)).flags.compress is expected


@pytest.fixture
async def nodes(wire_format: str, prefix: str) -> AsyncIterator[Any]:
    async with contextlib.AsyncExitStack() as stack:

        async def start() -> tuple[tidings.Server, str]:
            options: dict[str, Any] = {"requests_timeout": 3.0}
            if wire_format == "streams":
                options["stream_name"] = prefix
            factory = RedisAdapter(SHARED_REDIS, format=wire_format, key_prefix=prefix, **options)
            stack.push_async_callback(factory.close)
            sio = tidings.Server(adapter_factory=factory, per_message_deflate=True)
            srv = await stack.enter_async_context(tidings.standalone.serve(sio, "127.0.0.1", 0))
            return sio, f"http://127.0.0.1:{srv.port}"

        yield start
    if wire_format == "streams":
        import redis.asyncio as aioredis

        client = aioredis.Redis.from_url(SHARED_REDIS)
        await client.delete(prefix)
        await client.aclose()


@pytest.fixture
async def bus_nodes(tmp_path: Path) -> AsyncIterator[Any]:
    """Workers on one local bus (``tidings serve --workers``): the same adapter and format."""
    hub = BusHub(str(tmp_path / "bus.sock"))
    await hub.start()
    async with contextlib.AsyncExitStack() as stack:

        async def start() -> tuple[tidings.Server, str]:
            factory = LocalBusAdapter(hub.path, requests_timeout=3.0)
            stack.push_async_callback(factory.close)
            sio = tidings.Server(adapter_factory=factory, per_message_deflate=True)
            srv = await stack.enter_async_context(tidings.standalone.serve(sio, "127.0.0.1", 0))
            return sio, f"http://127.0.0.1:{srv.port}"

        yield start
    await hub.close()


async def test_compress_false_survives_the_cluster(nodes: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    await check_flag_crosses(nodes, monkeypatch)


async def test_compress_false_survives_the_local_bus(bus_nodes: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    await check_flag_crosses(bus_nodes, monkeypatch)


async def check_flag_crosses(nodes: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    compressed = count_deflates(monkeypatch)
    a, _ = await nodes()
    b, url_b = await nodes()

    @b.on("connect")
    def connect(socket: tidings.Socket) -> None:
        socket.join("r")

    client = tidings.Client(reconnection=False, per_message_deflate=True)
    got: asyncio.Queue[tuple[str, str]] = asyncio.Queue()

    def handler(event: str) -> Any:
        def on(data: str) -> None:
            got.put_nowait((event, data))

        return on

    for event in ("all", "room", "big"):
        client.on(event, handler(event))

    @client.on("ask")
    def ask(data: str) -> int:
        return len(data)

    await client.connect(url_b, transports=["websocket"])
    try:
        await a.compress(False).emit("all", DATA)
        assert await asyncio.wait_for(got.get(), 5) == ("all", DATA)
        await a.to("r").compress(False).emit("room", DATA)
        assert await asyncio.wait_for(got.get(), 5) == ("room", DATA)
        assert await a.timeout(5).compress(False).emit_with_ack("ask", DATA) == [len(DATA)]
        assert compressed == []  # node b sent all three as they were
        await a.to("r").emit("big", DATA)
        assert await asyncio.wait_for(got.get(), 5) == ("big", DATA)
        assert compressed != []  # the control: without the flag b compresses
    finally:
        await client.disconnect()


@pytest.mark.parametrize("wire_format", ["classic"])  # the emitters' format
async def test_compress_false_from_an_emitter(
    nodes: Any, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    compressed = count_deflates(monkeypatch)
    _, url = await nodes()
    client = tidings.Client(reconnection=False, per_message_deflate=True)
    got: asyncio.Queue[str] = asyncio.Queue()
    client.on("data", got.put_nowait)
    await client.connect(url, transports=["websocket"])
    try:
        async with tidings.Emitter(SHARED_REDIS, key_prefix=prefix) as emitter:
            await emitter.compress(False).emit("data", DATA)
            assert await asyncio.wait_for(got.get(), 5) == DATA
            assert compressed == []
            await emitter.emit("data", DATA)
            assert await asyncio.wait_for(got.get(), 5) == DATA
            assert compressed != []
    finally:
        await client.disconnect()
