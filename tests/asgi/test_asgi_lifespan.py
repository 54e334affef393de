"""Lifespan under real servers: tidings and the FastAPI app both start and stop, in order."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from tests.e2e.harness import NodeClient

from .servers import SERVERS, start_server


@pytest.mark.parametrize("kind", list(SERVERS))
@pytest.mark.parametrize("transport", ["websocket", "polling"])
async def test_startup_and_graceful_shutdown(
    kind: str, transport: str, tmp_path: Path, node: NodeClient
) -> None:
    server = await asyncio.to_thread(start_server, kind, tmp_path)
    try:
        # Our hooks run first, then the app's; sio.startup() opened the history store.
        assert server.events() == ["tidings startup", "fastapi startup"]
        assert server.history_file.exists()

        client = node.socket(server.url, opts={"transports": [transport], "reconnection": False})
        await client.connect()
        await client.connected()
        assert await client.call("echo", "up") == ["up"]

        began = time.monotonic()
        status = await asyncio.to_thread(server.stop)
        took = time.monotonic() - began
    finally:
        await asyncio.to_thread(server.stop)
    assert status == 0, server.log()
    reason = await client.disconnected()
    assert reason in ("transport close", "transport error"), reason
    assert server.events() == [
        "tidings startup", "fastapi startup", "tidings shutdown", "fastapi shutdown",
    ]
    # The servers wait for a held poll, which is answered within a ping interval (1 s
    # here); then the client's next request is refused. Nothing waits for longer.
    assert took < 8.0, (took, server.log())


async def test_mounted_under_fastapi(tmp_path: Path, node: NodeClient) -> None:
    """``fastapi.mount("/rt", ASGIApp(sio))``: the client's path is the mount plus /socket.io/."""
    server = await asyncio.to_thread(
        start_server, "uvicorn", tmp_path, TIDINGS_ASGI_LAYOUT="mounted"
    )
    try:
        for mode in ("websocket", "polling", "upgrade"):
            transports = {"transports": [mode]} if mode != "upgrade" else {}
            client = node.socket(server.url, opts={"path": "/rt/socket.io/", **transports})
            await client.connect()
            await client.connected()
            assert await client.call("echo", mode, b"\x00") == [mode, b"\x00"]
            await client.disconnect()
    finally:
        status = await asyncio.to_thread(server.stop)
    assert status == 0
    # Starlette does not pass lifespan to a mounted app: the app's own lifespan starts sio.
    assert server.events() == ["fastapi startup", "fastapi shutdown"]
    assert server.history_file.exists()
