"""The chat demo: its page, its client script, and two official clients chatting."""

from __future__ import annotations

import asyncio
import re
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

import tidings.standalone
from tidings.demo import ClientMissingError, create_app, static_files

from .harness import MODES, NodeClient, http_request

REPO_ROOT = Path(__file__).resolve().parents[2]
CLIENT_JS = REPO_ROOT / "node_modules" / "socket.io-client" / "dist" / "socket.io.min.js"


def client_js_bytes() -> bytes:
    return CLIENT_JS.read_bytes()


async def chat_between_two(node: NodeClient, url: str, opts: dict[str, Any]) -> None:
    alice = node.socket(url, id="alice", opts=opts)
    bob = node.socket(url, id="bob", opts=opts)
    for client in (alice, bob):
        await client.connect()
        await client.connected()
    assert await alice.emit_with_ack("chat", "  hello bob  ") == {"ok": True}
    for client in (alice, bob):
        message = (await client.event("chat"))[0]
        assert message["from"] == alice.sid
        assert message["text"] == "hello bob"
        assert isinstance(message["at"], float)
    refused = await bob.emit_with_ack("chat", "   ")
    assert refused["ok"] is False and refused["error"]
    assert (await bob.emit_with_ack("chat", "x" * 501))["ok"] is False
    assert (await bob.emit_with_ack("chat", {"not": "text"}))["ok"] is False
    # the first page heard of the second one joining
    assert (await alice.event("presence"))[0]["online"] >= 1


async def check_page(url: str) -> None:
    status, headers, body = await http_request(url, "GET", "/")
    assert status == 200
    assert headers["content-type"].startswith("text/html")
    page = body.decode()
    assert '<script src="/vendor/socket.io.min.js"></script>' in page
    assert "//cdn" not in page and "https://" not in page
    status, headers, body = await http_request(url, "GET", "/vendor/socket.io.min.js")
    assert status == 200
    assert headers["content-type"].startswith("text/javascript")
    assert body == client_js_bytes()
    for asset in ("/static/app.js", "/static/style.css"):
        status, _, body = await http_request(url, "GET", asset)
        assert status == 200 and body


@pytest.mark.parametrize("mode", list(MODES))
async def test_demo_in_process(node: NodeClient, mode: str) -> None:
    files = static_files(CLIENT_JS)
    async with tidings.standalone.serve(create_app(), "127.0.0.1", 0, static_files=files) as srv:
        url = f"http://127.0.0.1:{srv.port}"
        await check_page(url)
        await chat_between_two(node, url, MODES[mode])


def test_missing_client_script_says_npm_ci(tmp_path: Path) -> None:
    with pytest.raises(ClientMissingError, match="npm ci"):
        static_files(tmp_path / "socket.io.min.js")


@pytest.fixture
async def demo_process() -> AsyncIterator[str]:
    """``tidings demo`` as a user runs it (the CLI, ``run()``, its event loop), on a free port."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tidings.cli",
        "demo",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        cwd=REPO_ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert proc.stdout is not None
    seen: list[str] = []
    try:
        async with asyncio.timeout(15):
            while True:
                line = (await proc.stdout.readline()).decode()
                if not line:
                    pytest.fail(f"tidings demo exited ({await proc.wait()}): {''.join(seen)}")
                seen.append(line)
                found = re.search(r"listening on (http://127\.0\.0\.1:\d+)", line)
                if found:
                    break
        drain = asyncio.create_task(proc.stdout.read())
        yield found.group(1)
    finally:
        if proc.returncode is None:
            proc.terminate()
            async with asyncio.timeout(15):
                await proc.wait()
    output = "".join(seen) + (await drain).decode()
    assert proc.returncode == 0, output
    assert "Traceback" not in output, output


async def test_demo_command(node: NodeClient, demo_process: str) -> None:
    await check_page(demo_process)
    await chat_between_two(node, demo_process, MODES["upgrade"])
