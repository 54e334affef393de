"""``tidings demo`` as a command: what it serves, where it keeps the history, how it stops."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from .harness import REPO_ROOT, DemoProcess

StartDemo = Callable[..., Awaitable[DemoProcess]]
CLIENT_JS = REPO_ROOT / "node_modules" / "socket.io-client" / "dist" / "socket.io.min.js"


async def get(url: str, path: str, body: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
    """A plain HTTP/1.1 GET (or POST of ``body``) on 127.0.0.1, Connection: close."""
    port = int(url.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    method = "GET" if body is None else "POST"
    extra = "" if body is None else f"Content-Type: text/plain\r\nContent-Length: {len(body)}\r\n"
    writer.write(
        f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{extra}Connection: close\r\n\r\n".encode()
        + (body or b"")
    )
    await writer.drain()
    async with asyncio.timeout(10):
        raw = await reader.read()
    writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, body


async def test_serves_the_page_and_the_official_client(start_demo: StartDemo) -> None:
    demo = await start_demo()
    status, headers, body = await get(demo.url, "/")
    assert status == 200
    assert headers["content-type"].startswith("text/html")
    page = body.decode()
    assert '<script src="/socket.io/socket.io.min.js"></script>' in page
    assert "//cdn" not in page and "https://" not in page  # nothing from elsewhere
    status, headers, body = await get(demo.url, "/socket.io/socket.io.min.js")
    assert status == 200
    assert headers["content-type"].startswith("application/javascript")
    assert body == CLIENT_JS.read_bytes()
    for asset, ctype in (("/static/app.js", "text/javascript"), ("/static/style.css", "text/css")):
        status, headers, body = await get(demo.url, asset)
        assert status == 200 and body
        assert headers["content-type"].startswith(ctype)
    assert (await get(demo.url, "/static/../chat.py"))[0] in (400, 403, 404)
    assert await demo.stop() == 0  # SIGTERM: a clean shutdown


async def connect_by_hand(url: str) -> None:
    """Engine.IO handshake and a Socket.IO CONNECT over long-polling, byte by byte."""
    status, _, body = await get(url, "/socket.io/?EIO=4&transport=polling")
    assert status == 200 and body.startswith(b"0{")
    sid = json.loads(body[1:])["sid"]
    path = f"/socket.io/?EIO=4&transport=polling&sid={sid}"
    # A nickname the chat refuses: a CONNECT_ERROR that says why.
    assert (await get(url, path, b'40{"nick":"<x>"}'))[0] == 200
    status, _, body = await get(url, path)
    assert body.startswith(b"44{") and b"Nicknames use letters" in body, body
    # A good one: connected, with a private id for recovering the session later.
    assert (await get(url, path, b'40{"nick":"Ada"}'))[0] == 200
    status, _, body = await get(url, path)
    assert body.startswith(b"40{"), body
    assert {"sid", "pid"} <= json.loads(body[2:]).keys()
    assert (await get(url, path, b"1"))[0] == 200  # and goodbye (an Engine.IO CLOSE)


async def test_history_file_defaults_to_the_current_directory(tmp_path: Path) -> None:
    """Started elsewhere without ``--db``: ``tidings-demo.sqlite3`` appears where it was started
    (and no node_modules is needed there: the client comes from the package)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tidings.cli", "demo", "--port", "0",
        cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    assert proc.stdout is not None
    seen: list[bytes] = []
    try:
        async with asyncio.timeout(15):
            while b"listening on" not in (line := await proc.stdout.readline()):
                assert line, b"".join(seen).decode()
                seen.append(line)
        url = "http://127.0.0.1:" + line.decode().rsplit(":", 1)[1].strip()
        await connect_by_hand(url)
    finally:
        proc.terminate()
        async with asyncio.timeout(15):
            rest = await proc.stdout.read()
            await proc.wait()
    output = b"".join(seen).decode() + rest.decode()
    assert proc.returncode == 0, output
    db = tmp_path / "tidings-demo.sqlite3"
    assert f"chat history in {db}" in output
    assert db.is_file()
    with sqlite3.connect(db) as conn:  # a real history store, opened and closed cleanly
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"entries", "sessions"} <= tables
