"""docs/asgi-frameworks.md's Flask and Django apps, served by uvicorn as a person would.

The page's own blocks are written to a module and run with ``uvicorn module:app``: the
framework answers its route, and a ``tidings.Client`` talks Socket.IO to the same port
(so the lifespan started tidings). The page's claim about Django without the lifespan
wrapper is held to as well.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import httpx
import pytest

import tidings
from tests.demo.harness import ServedProcess

from .markdown import code_blocks

REPO = Path(__file__).resolve().parents[2]
PAGE = REPO / "docs" / "asgi-frameworks.md"
UVICORN_READY = r"Uvicorn running on http://127\.0\.0\.1:(\d+)"

pytestmark = pytest.mark.timeout(90)


def example(marker: str) -> str:
    blocks = [b.code for b in code_blocks(PAGE.read_text(encoding="utf-8"))
              if b.lang == "python" and marker in b.code]
    assert len(blocks) == 1, marker
    return blocks[0]


async def serve(tmp_path: Path, code: str) -> ServedProcess:
    (tmp_path / "site_app.py").write_text(code, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO)])}
    server = ServedProcess(
        [sys.executable, "-m", "uvicorn", "site_app:app", "--host", "127.0.0.1", "--port", "0"],
        cwd=tmp_path, env=env, ready=UVICORN_READY,
    )
    await server.start()
    return server


async def chat(url: str) -> object:
    async with tidings.Client(reconnection=False) as client:
        await client.connect(url, transports=["websocket"])
        return await client.emit_with_ack("chat", "hi", timeout=5)


@pytest.mark.parametrize(("marker", "greeting"), [
    ("from flask import Flask", "Hello from Flask"),
    ("from django.conf import settings", "Hello from Django"),
])
async def test_the_framework_and_socketio_share_the_port(
    tmp_path: Path, marker: str, greeting: str
) -> None:
    server = await serve(tmp_path, example(marker))
    try:
        async with httpx.AsyncClient(base_url=server.url) as http:
            assert (await http.get("/hello")).text == greeting
        assert await chat(server.url) == "delivered"
    finally:
        # uvicorn shuts down gracefully, then raises the signal again: -SIGTERM.
        assert await server.stop() in (0, -signal.SIGTERM)
    assert "Application shutdown complete" in server.log(), server.log()
    assert "Traceback" not in server.log(), server.log()
    assert "lifespan' protocol appears unsupported" not in server.log()
