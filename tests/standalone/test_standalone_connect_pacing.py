"""The CONNECT reply's pacing on the built-in server, seen from a raw client's socket.

Node writes a namespace's CONNECT reply the moment it accepts the client, then runs the
connect handler, whose emits leave in a later write. A client that reads as soon as the
reply arrives then reads it alone, which is what the protocol's conformance suite needs
(its one-shot listeners miss a packet that comes in the same read as the one before).

The test peeks at the client's socket from the first callback of the turn after the
connect handler ran: the reply must be there already, alone, and the handler's emit must
come after it. Before, the reply waited for the end-of-turn write pass, which runs after
that callback: the peek found nothing.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import struct
from typing import Any

import pytest

import tidings
import tidings.standalone

pytestmark = pytest.mark.timeout(30)


def _masked_text(text: str) -> bytes:
    payload = text.encode()
    mask = os.urandom(4)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return struct.pack("!BB", 0x81, 0x80 | len(payload)) + mask + body


def _frames(data: bytes) -> list[str]:
    """The text frames in ``data`` (small unmasked server frames), in order."""
    frames = []
    while data:
        assert data[0] == 0x81, data
        length = data[1]
        assert length < 126, data
        frames.append(data[2 : 2 + length].decode())
        data = data[2 + length :]
    return frames


async def _read_frame(loop: asyncio.AbstractEventLoop, sock: socket.socket, buf: bytearray) -> str:
    while len(buf) < 2 or len(buf) < 2 + buf[1]:
        chunk = await loop.sock_recv(sock, 4096)
        assert chunk, "closed by the server"
        buf += chunk
    size = 2 + buf[1]
    frame = bytes(buf[:size])
    del buf[:size]
    return _frames(frame)[0]


@pytest.mark.parametrize("namespace", ["/", "/custom"])
async def test_the_connect_reply_is_written_alone_before_the_handlers_emit(
    namespace: str,
) -> None:
    loop = asyncio.get_running_loop()
    sio = tidings.Server()
    client = socket.socket()
    peeked: asyncio.Future[bytes] = loop.create_future()

    def peek() -> None:
        try:
            peeked.set_result(client.recv(4096, socket.MSG_PEEK))
        except BlockingIOError:
            peeked.set_result(b"")

    async def connect(sock: tidings.Socket, auth: Any) -> None:
        await sock.emit("auth", auth)
        loop.call_soon(peek)  # the first callback of the next turn

    sio.of(namespace).on("connect", connect)
    async with tidings.standalone.serve(sio, "127.0.0.1", 0) as server:
        client.setblocking(False)
        try:
            await loop.sock_connect(client, ("127.0.0.1", server.port))
            key = base64.b64encode(os.urandom(16)).decode()
            await loop.sock_sendall(
                client,
                (
                    "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                    f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
                ).encode(),
            )
            buf = bytearray()
            while b"\r\n\r\n" not in buf:
                buf += await loop.sock_recv(client, 4096)
            head, _, rest = bytes(buf).partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 101")
            buf = bytearray(rest)
            assert (await _read_frame(loop, client, buf)).startswith("0{")
            prefix = "" if namespace == "/" else namespace + ","
            await loop.sock_sendall(client, _masked_text("40" + prefix + '{"token":"t"}'))

            # The reply was handed to the kernel in the turn the connect flow accepted the
            # client, alone: the handler's emit is not there yet.
            frames = _frames(await asyncio.wait_for(peeked, 10))
            assert len(frames) == 1, frames
            assert frames[0].startswith("40" + prefix)
            assert set(json.loads(frames[0][len("40" + prefix) :])) == {"sid"}

            # ...and the emit follows, in a write of its own.
            assert await _read_frame(loop, client, buf) == frames[0]
            emitted = await asyncio.wait_for(_read_frame(loop, client, buf), 10)
            assert emitted == "42" + prefix + '["auth",{"token":"t"}]'
        finally:
            client.close()
