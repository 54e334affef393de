"""The tidings client offering permessage-deflate (``per_message_deflate=True``): against
the reference Node server with ``perMessageDeflate`` on, and against tidings."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import tidings
import tidings.standalone
from tidings.protocol.websocket.deflate import PerMessageDeflate

NODE_SERVER = Path(__file__).resolve().parent / "node" / "sio_server.mjs"
DATA = "compressible text, " * 2000  # ~38 KB


@pytest.fixture
async def node_url(node_bin: str) -> AsyncIterator[str]:
    proc = await asyncio.create_subprocess_exec(
        node_bin, str(NODE_SERVER), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
    )
    assert proc.stdout is not None and proc.stdin is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 10)
    yield f"http://127.0.0.1:{json.loads(line)['port']}"
    proc.stdin.close()
    try:
        await asyncio.wait_for(proc.wait(), 5)
    except TimeoutError:
        proc.kill()
        await proc.wait()


@pytest.mark.parametrize("offer", [True, False])
async def test_against_node_server(node_url: str, offer: bool) -> None:
    client = tidings.Client(reconnection=False, per_message_deflate=offer)
    await client.connect(node_url, transports=["websocket"])
    try:
        extensions = await client.emit_with_ack("deflated")
        if offer:
            assert "permessage-deflate" in extensions
        else:
            assert not extensions
        assert await client.emit_with_ack("echo", DATA) == DATA
    finally:
        await client.disconnect()


@pytest.mark.parametrize("offer", [True, False])
async def test_against_tidings(monkeypatch: pytest.MonkeyPatch, offer: bool) -> None:
    inflated: list[int] = []
    inflate = PerMessageDeflate.inflate

    def counting(self: PerMessageDeflate, chunk: bytes, limit: int) -> bytes:
        out = inflate(self, chunk, limit)
        inflated.append(len(out))
        return out

    monkeypatch.setattr(PerMessageDeflate, "inflate", counting)
    sio = tidings.Server(per_message_deflate=True)

    @sio.on("echo")
    def echo(socket: tidings.Socket, data: str) -> str:
        return data

    async with tidings.standalone.serve(sio, "127.0.0.1", 0) as srv:
        client = tidings.Client(reconnection=False, per_message_deflate=offer)
        await client.connect(f"http://127.0.0.1:{srv.port}", transports=["websocket"])
        try:
            assert await client.emit_with_ack("echo", DATA) == DATA
        finally:
            await client.disconnect()
    if offer:  # aiohttp compresses every message: the server inflated what it read
        assert sum(inflated) >= len(DATA)
    else:
        assert inflated == []


def test_option_defaults_off() -> None:
    from tidings.client.options import ClientOptions

    assert ClientOptions().per_message_deflate is False
