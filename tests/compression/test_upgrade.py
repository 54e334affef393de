"""The built-in server's upgrade with permessage-deflate, over a raw socket: what the 101
answers to good, bad and missing offers, and a decompression bomb closed with 1009."""

from __future__ import annotations

import asyncio
import base64
import os
import struct
import zlib
from collections.abc import AsyncIterator

import pytest

import tidings
import tidings.standalone
from tidings.protocol.websocket import Opcode, apply_mask
from tidings.protocol.websocket.deflate import DeflateOptions


@pytest.fixture
async def port() -> AsyncIterator[int]:
    sio = tidings.Server(per_message_deflate=DeflateOptions(), max_http_buffer_size=100_000)
    async with tidings.standalone.serve(sio, "127.0.0.1", 0) as srv:
        yield srv.port


async def upgrade(port: int, offer: str | None) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, str]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)).decode()
    ext = f"Sec-WebSocket-Extensions: {offer}\r\n" if offer is not None else ""
    writer.write(
        f"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        f"Sec-WebSocket-Version: 13\r\n{ext}\r\n".encode()
    )
    head = (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)).decode("latin-1")
    assert head.startswith("HTTP/1.1 101")
    return reader, writer, head


def extension_of(head: str) -> str | None:
    for line in head.split("\r\n"):
        name, _, value = line.partition(":")
        if name.lower() == "sec-websocket-extensions":
            return value.strip()
    return None


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    b0, b1 = await asyncio.wait_for(reader.readexactly(2), 5)
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack("!H", await reader.readexactly(2))[0]
    elif n == 127:
        n = struct.unpack("!Q", await reader.readexactly(8))[0]
    return b0, await reader.readexactly(n)


@pytest.mark.parametrize(
    ("offer", "expected"),
    [
        (None, None),
        ("permessage-deflate; bogus", None),
        ("x-webkit-deflate-frame, permessage-deflate", "permessage-deflate"),
        (
            "permessage-deflate; server_max_window_bits=8, permessage-deflate; server_no_context_takeover",
            "permessage-deflate; server_no_context_takeover",
        ),
    ],
)
async def test_response_to_offers(port: int, offer: str | None, expected: str | None) -> None:
    reader, writer, head = await upgrade(port, offer)
    assert extension_of(head) == expected
    b0, body = await read_frame(reader)  # the Engine.IO open packet, small: not compressed
    assert b0 == 0x81 and body.startswith(b"0{")
    writer.close()


async def test_decompression_bomb_closes_with_1009(port: int) -> None:
    reader, writer, head = await upgrade(port, "permessage-deflate")
    assert extension_of(head) == "permessage-deflate"
    await read_frame(reader)
    c = zlib.compressobj(wbits=-15)
    bomb = (c.compress(b"4" + b"a" * 20_000_000) + c.flush(zlib.Z_SYNC_FLUSH))[:-4]
    assert len(bomb) < 100_000  # small on the wire, 200 times the limit inflated
    mask = b"\x01\x02\x03\x04"
    writer.write(struct.pack("!BBH", 0xC0 | Opcode.TEXT, 0x80 | 126, len(bomb)) + mask + apply_mask(bomb, mask))
    while True:
        b0, body = await read_frame(reader)
        if b0 & 0x0F == Opcode.CLOSE:
            break
    assert struct.unpack("!H", body[:2])[0] == 1009
    writer.close()


@pytest.mark.parametrize("deflate", [True, False])
async def test_raw_route_echoes_compressed(deflate: bool) -> None:
    from tidings.websocket_routes import WebSocket, WebSocketRoutes

    routes = WebSocketRoutes()

    @routes.route("/echo", per_message_deflate=deflate)
    async def echo(ws: WebSocket) -> None:
        async for message in ws:
            await ws.send(message)

    async with tidings.standalone.serve(routes, "127.0.0.1", 0) as srv:
        reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            f"GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n".encode()
        )
        head = (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)).decode("latin-1")
        assert extension_of(head) == ("permessage-deflate" if deflate else None)
        text = b"route " * 1000
        mask = b"\x09\x08\x07\x06"
        if deflate:
            c = zlib.compressobj(wbits=-15)
            body = (c.compress(text) + c.flush(zlib.Z_SYNC_FLUSH))[:-4]
            first = 0xC0 | Opcode.TEXT
        else:
            body, first = text, 0x80 | Opcode.TEXT
        writer.write(struct.pack("!BBH", first, 0x80 | 126, len(body)) + mask + apply_mask(body, mask))
        b0, got = await read_frame(reader)
        if deflate:
            assert b0 == 0xC1
            assert zlib.decompressobj(-15).decompress(got + b"\x00\x00\xff\xff") == text
        else:
            assert b0 == 0x81 and got == text
        writer.close()
