"""Lifespan under real servers: tidings and the FastAPI app both start and stop, in order."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.harness import NodeClient

from .servers import APP, REPO_ROOT, SERVERS, STOP_TIMEOUT, free_port, start_server


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


@pytest.mark.parametrize("layout", ["wrapped", "alone"])
def test_failed_startup_stops_the_server(layout: str, tmp_path: Path) -> None:
    """A history store that cannot open (its directory is missing) fails the lifespan: uvicorn
    says why and exits, rather than serving without it."""
    command = [
        sys.executable, "-m", "uvicorn", "--factory", APP.removesuffix("()"),
        "--host", "127.0.0.1", "--port", str(free_port()), "--no-access-log",
    ]
    proc = subprocess.run(
        command, check=False, cwd=REPO_ROOT, capture_output=True, text=True, timeout=STOP_TIMEOUT,
        stdin=subprocess.DEVNULL,
        env={
            **os.environ,
            "TIDINGS_ASGI_LAYOUT": layout,
            "TIDINGS_ASGI_EVENTS": str(tmp_path / "events.txt"),
            "TIDINGS_ASGI_HISTORY": str(tmp_path / "missing" / "history.sqlite3"),
        },
    )
    log = proc.stdout + proc.stderr
    assert proc.returncode != 0, log
    assert "tidings startup failed" in log, log
    assert "Application startup failed" in log, log
    assert "lifespan' protocol appears unsupported" not in log, log
    assert "Uvicorn running on" not in log, log
