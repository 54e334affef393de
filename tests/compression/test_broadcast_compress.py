"""``compress(False)`` on broadcasts (Node's ``io.compress(false).emit``): every modifier
chain that broadcasts sends the message uncompressed to permessage-deflate clients, while
a plain broadcast still arrives compressed. Read off the TCP socket by Node's ``ws``."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

import tidings
import tidings.standalone
from tests.compression.counting import count_deflates
from tests.compression.test_deflate_e2e import BIG, by_event, counts, run_node, serve  # noqa: F401
from tidings.adapters.base import BroadcastFlags

# Sent to every client but the sender (socket.broadcast, socket.to): checked on the others.
TO_OTHERS = ("others", "room_others")
TO_ALL = ("all", "room", "volatile", "named")


def build() -> tidings.Server:
    sio = tidings.Server(per_message_deflate=True)

    @sio.on("connect")
    def connect(socket: tidings.Socket) -> None:
        socket.join("r")

    @sio.on("go")
    async def go(socket: tidings.Socket) -> None:
        await sio.emit("big", BIG)
        await sio.compress(False).emit("all", BIG)
        await sio.to("r").compress(False).emit("room", BIG)
        await socket.broadcast.compress(False).emit("others", BIG)
        await socket.to("r").compress(False).emit("room_others", BIG)
        await sio.compress(False).volatile.emit("volatile", BIG)  # flags combine
        await sio.of("/").compress(False).emit("named", BIG)
        await sio.compress(True).emit("after", BIG)
        await sio.emit("end")

    return sio


@pytest.mark.parametrize("takeover", ["no", "yes"])
async def test_broadcast_compress_false_leaves_uncompressed(
    node_bin: str, serve: Any, takeover: str  # noqa: F811
) -> None:
    url = await serve(build())
    result = await run_node(node_bin, url, "raw", "3", takeover)
    clients = result["clients"]
    assert len(clients) == 3
    for i, client in enumerate(clients):
        assert client["extensions"] is not None
        events = by_event(client)
        assert events["big"]["rsv1"] is True
        assert events["after"]["rsv1"] is True  # the server itself kept no flag
        names = TO_ALL if i == 0 else TO_ALL + TO_OTHERS
        for name in names:
            expected = f'42["{name}",' + json.dumps(BIG) + "]"
            assert events[name]["rsv1"] is False, name
            assert events[name]["len"] == len(expected), name
            assert expected in client["messages"]
        if i == 0:
            assert not set(TO_OTHERS) & set(events)


async def test_broadcast_with_ack_compress_false(monkeypatch: pytest.MonkeyPatch) -> None:
    compressed = count_deflates(monkeypatch)
    sio = tidings.Server(per_message_deflate=True)
    async with tidings.standalone.serve(sio, "127.0.0.1", 0) as srv:
        client = tidings.Client(reconnection=False, per_message_deflate=True)

        @client.on("ask")
        def ask(data: str) -> int:
            return len(data)

        await client.connect(f"http://127.0.0.1:{srv.port}", transports=["websocket"])
        try:
            assert await sio.compress(False).emit_with_ack("ask", BIG) == [len(BIG)]
            assert await sio.timeout(5).compress(False).emit_with_ack("ask", BIG) == [len(BIG)]
            assert compressed == []
            assert await sio.timeout(5).emit_with_ack("ask", BIG) == [len(BIG)]
            assert compressed != []  # the control: without the flag it is compressed
        finally:
            await client.disconnect()


def test_operators_keep_every_flag() -> None:
    sio = tidings.Server()
    op = sio.compress(False).volatile.timeout(2).local
    assert op.options.flags == BroadcastFlags(volatile=True, local=True, timeout=2, compress=False)
    assert sio.to("r").compress(False).compress(True).options.flags == BroadcastFlags()
    assert sio.to("r").options.flags.compress is True


async def test_polling_clients_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    sio = tidings.Server(per_message_deflate=True)
    async with tidings.standalone.serve(sio, "127.0.0.1", 0) as srv:
        client = tidings.Client(reconnection=False)
        got: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        client.on("plain", got.set_result)
        await client.connect(f"http://127.0.0.1:{srv.port}", transports=["polling"])
        try:
            await sio.compress(False).emit("plain", BIG)
            assert await asyncio.wait_for(got, 5) == BIG
        finally:
            await client.disconnect()
