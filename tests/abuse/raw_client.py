"""A raw Engine.IO/Socket.IO client over one TCP connection: what an attacker writes,
byte for byte, with no client library to slow it down or to be polite."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import struct


def frame(text: str) -> bytes:
    """One masked client text frame (a zero mask key: the payload goes as is)."""
    payload = text.encode()
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x81, 0x80 | n)
    elif n < 1 << 16:
        head = struct.pack("!BBH", 0x81, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", 0x81, 0x80 | 127, n)
    return head + b"\0\0\0\0" + payload


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """The server's next frame (servers do not mask): opcode and payload."""
    b0, b1 = await reader.readexactly(2)
    n = b1 & 0x7F
    if n == 126:
        (n,) = struct.unpack("!H", await reader.readexactly(2))
    elif n == 127:
        (n,) = struct.unpack("!Q", await reader.readexactly(8))
    return b0 & 0x0F, await reader.readexactly(n)


async def read_text(reader: asyncio.StreamReader, prefix: str) -> str:
    """The next text message that starts with ``prefix`` (others, pings included, are skipped)."""
    while True:
        opcode, payload = await read_frame(reader)
        if opcode == 8:
            raise ConnectionError(f"closed by the server: {payload!r}")
        text = payload.decode()
        if text.startswith(prefix):
            return text


async def connect_websocket(
    port: int, path: str = "/socket.io/", *, slow: bool = False
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A WebSocket session joined to "/" (OPEN read, CONNECT sent and answered).
    ``slow``: little buffered on this side (a small receive buffer, a small reader),
    so that a client that stops reading soon makes the server hold what it sends."""
    if slow:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
        reader, writer = await asyncio.open_connection(sock=sock, limit=4096)
    else:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        f"GET {path}?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101"), head
    await read_text(reader, "0{")
    writer.write(frame("40"))
    await read_text(reader, "40")
    return reader, writer
