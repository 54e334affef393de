"""The floor broadcaster speaks enough Socket.IO for the benchmark client, on real sockets."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import struct

import pytest

from bench.servers.floor import start_server


def masked(text: str) -> bytes:
    payload = text.encode()
    mask = os.urandom(4)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    n = len(payload)
    head = bytes((0x81, 0x80 | n)) if n < 126 else struct.pack("!BBH", 0x81, 0x80 | 126, n)
    return head + mask + body


class Client:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(cls, port: int) -> Client:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            f"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\n"
            f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode())
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101")
        client = cls(reader, writer)
        opened = await client.recv()
        assert opened.startswith("0") and json.loads(opened[1:])["pingInterval"] > 0
        client.send("40")
        assert (await client.recv()).startswith('40{"sid":')
        return client

    def send(self, text: str) -> None:
        self.writer.write(masked(text))

    async def recv(self) -> str:
        b0, b1 = await self.reader.readexactly(2)
        n = b1 & 0x7F
        if n == 126:
            (n,) = struct.unpack("!H", await self.reader.readexactly(2))
        assert b0 == 0x81 and not b1 & 0x80  # final, text, unmasked
        return (await self.reader.readexactly(n)).decode()

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


@pytest.mark.parametrize("coalesce", [False, True])
async def test_join_publish_echo(coalesce: bool) -> None:
    server = await start_server("127.0.0.1", 0, coalesce)
    port = server.sockets[0].getsockname()[1]
    try:
        members = [await Client.connect(port) for _ in range(3)]
        for member in members:
            member.send('427["join","bench"]')
            assert await member.recv() == "437[true]"
        publisher = await Client.connect(port)
        publisher.send("42" + json.dumps(["publish", "bench", {"s": 1}]))
        publisher.send("42" + json.dumps(["publish", "bench", {"s": 2}]))
        for member in members:
            assert json.loads((await member.recv())[2:]) == ["pub", {"s": 1}]
            assert json.loads((await member.recv())[2:]) == ["pub", {"s": 2}]
        publisher.send('425["echo",{"t":1.5},"x"]')
        assert await publisher.recv() == '435[{"t": 1.5}, "x"]'
        for client in [*members, publisher]:
            await client.close()
    finally:
        server.close()
        await server.wait_closed()
