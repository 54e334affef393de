"""Servers of one loop that hand connections to one another, and what the tests ask of them."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import orjson

from tidings.standalone import HandoffOptions, HttpServer, RedisPeerDirectory, serve

from .app import make_app

REDIS_URL = "redis://127.0.0.1:6379/0"

#: How long a node of these tests takes to stop: the tests leave polling sessions whose
#: client never polls again, which a shutdown would otherwise wait a second for.
SHUTDOWN_TIMEOUT = 0.1


def unique_prefix() -> str:
    return f"test-handoff-{uuid.uuid4().hex[:12]}"


@contextlib.asynccontextmanager
async def nodes(
    *, socket_dir: Path | None = None, prefix: str | None = None, count: int = 3
) -> AsyncIterator[list[HttpServer]]:
    """``count`` servers n0, n1...: same machine (``socket_dir``) or relaying through the
    peer directory in Redis (``prefix``), each with a directory of its own as on its own machine."""
    async with contextlib.AsyncExitStack() as stack:
        servers = []
        for i in range(count):
            owner = f"n{i}"
            handoff = HandoffOptions(
                owner=owner,
                socket_dir=str(socket_dir) if socket_dir is not None else None,
                peers=RedisPeerDirectory(REDIS_URL, prefix) if prefix is not None else None,
            )
            server = await stack.enter_async_context(serve(make_app(owner), handoff=handoff))
            stack.push_async_callback(server.close, SHUTDOWN_TIMEOUT)
            servers.append(server)
        yield servers


async def raw_exchange(port: int, data: bytes, responses: int = 1) -> list[bytes]:
    """Send ``data`` on one connection and read ``responses`` responses (Content-Length framed)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        return [await asyncio.wait_for(read_response(reader), 5) for _ in range(responses)]
    finally:
        writer.close()


async def read_response(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return head + await reader.readexactly(length)


def status_and_body(response: bytes) -> tuple[int, bytes]:
    head, _, body = response.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def unknown_session(response: bytes) -> bool:
    """Engine.IO's answer for a session nobody knows."""
    status, body = status_and_body(response)
    return status == 400 and orjson.loads(body) == {"code": 1, "message": "Session ID unknown"}


async def until(check: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    """Wait until ``check()`` holds, for state no event announces (a count of connections)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        if loop.time() > deadline:
            raise AssertionError(f"not in {timeout}s: {what}")
        await asyncio.sleep(0.02)


async def handshake(port: int) -> str:
    """A new polling session at the server on ``port``; returns its sid."""
    (response,) = await raw_exchange(port, request("GET", "sid-less"))
    status, body = status_and_body(response)
    assert status == 200, response
    assert body.startswith(b"0{")
    return str(orjson.loads(body[1:])["sid"])


def request(method: str, sid: str | None, body: bytes = b"", *, close: bool = False) -> bytes:
    """One Engine.IO polling request (a handshake when ``sid`` is "sid-less")."""
    target = "/socket.io/?EIO=4&transport=polling"
    if sid is not None and sid != "sid-less":
        target += f"&sid={sid}"
    head = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1"]
    if method == "POST":
        head += ["Content-Type: text/plain;charset=UTF-8", f"Content-Length: {len(body)}"]
    if close:
        head.append("Connection: close")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body
