"""``examples/fastapi_app.py`` runs as its docstring says, and does what it claims."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from tests.e2e.harness import NodeClient, http_request

from .servers import start_server


@pytest.mark.parametrize("kind", ["uvicorn", "granian"])
async def test_fastapi_example(kind: str, tmp_path: Path, node: NodeClient) -> None:
    server = await asyncio.to_thread(
        start_server, kind, tmp_path, app="examples.fastapi_app:app", probe="/docs"
    )
    try:
        client = node.socket(server.url)
        await client.connect()
        info = await client.connected()

        status, _, body = await http_request(server.url, "POST", "/announce?text=hello")
        assert (status, json.loads(body)) == (200, {"sent": "hello"})
        assert await client.event("chat") == [{"from": "server", "text": "hello"}]

        await client.emit("chat", "hi there")
        assert await client.event("chat") == [{"from": info["sid"], "text": "hi there"}]
    finally:
        status = await asyncio.to_thread(server.stop)
    assert status == 0, server.log()
