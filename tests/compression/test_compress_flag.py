"""``socket.compress(False)`` (Node's ``socket.compress(false).emit``): the event arrives on
either transport, and over permessage-deflate it is never compressed."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import tidings
import tidings.standalone
from tests.compression.counting import count_deflates
from tidings.protocol.prepared import PreparedMessage

DATA = "abc " * 1000


@pytest.mark.parametrize("transport", ["polling", "websocket"])
async def test_uncompressed_emit_arrives(monkeypatch: pytest.MonkeyPatch, transport: str) -> None:
    compressed = count_deflates(monkeypatch)
    sio = tidings.Server(per_message_deflate=True)

    @sio.on("go")
    async def go(socket: tidings.Socket) -> Any:
        await socket.compress(False).emit("plain", DATA)
        return await socket.compress(False).timeout(5).emit_with_ack("ask", DATA)

    async with tidings.standalone.serve(sio, "127.0.0.1", 0) as srv:
        client = tidings.Client(reconnection=False, per_message_deflate=True)
        got: asyncio.Future[str] = asyncio.get_running_loop().create_future()

        @client.on("plain")
        def plain(data: str) -> None:
            got.set_result(data)

        @client.on("ask")
        def ask(data: str) -> int:
            return len(data)

        await client.connect(f"http://127.0.0.1:{srv.port}", transports=[transport])
        try:
            assert await client.emit_with_ack("go") == len(DATA)
            assert await asyncio.wait_for(got, 5) == DATA
        finally:
            await client.disconnect()
    assert compressed == []  # both were sent as they were, even over deflate


def test_prepared_message_marks_compression() -> None:
    assert PreparedMessage(["x"]).compress is True
    plain = PreparedMessage(["x"], compress=False)
    assert plain.compress is False
    assert plain.ws_frames == PreparedMessage(["x"]).ws_frames
