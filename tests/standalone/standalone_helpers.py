"""Test doubles and raw-socket clients for the built-in server.

``RecordingEngine`` is the engine side of the contract in ``tidings.engine.io``,
recording every call; its WebSockets echo and obey a few text commands. The
clients speak raw HTTP/1.1 and RFC 6455 over asyncio streams.
"""

from __future__ import annotations

import asyncio
import base64
import os
import struct
from dataclasses import dataclass, field

from tidings.engine.io import (
    HttpRequest,
    HttpResponse,
    WebSocketListener,
    WebSocketTransport,
)
from tidings.protocol.websocket import Opcode, apply_mask, encode_frame


@dataclass(frozen=True)
class Options:
    max_payload: int = 10_000


class Prepared:
    def __init__(self, parts: list[str]) -> None:
        self.ws_messages = tuple(parts)
        self.ws_frames = b"".join(encode_frame(Opcode.TEXT, p.encode()) for p in parts)


class Listener:
    """Echoes messages; text commands drive the server side of a test."""

    def __init__(self, engine: RecordingEngine, transport: WebSocketTransport) -> None:
        self.engine = engine
        self.transport = transport
        self.messages: list[str | bytes] = []
        self.closed: asyncio.Future[tuple[int, str]] = asyncio.get_running_loop().create_future()
        self.close_calls = 0

    def on_message(self, data: str | bytes) -> None:
        self.messages.append(data)
        t = self.transport
        if isinstance(data, bytes):
            t.send_bytes(data)
            return
        cmd, _, arg = data.partition(":")
        if cmd == "burst":
            for i in range(int(arg)):
                t.send_text(f"m{i}")
        elif cmd == "prepared":
            t.send_prepared(Prepared(arg.split(",")))
        elif cmd == "close":
            code, _, reason = arg.partition(",")
            t.close(int(code), reason)
        elif cmd == "flood":
            turns, size = (int(x) for x in arg.split(","))
            self._flood(turns, size)
        elif cmd == "raise":
            raise RuntimeError("handler bug")
        elif cmd == "buffered":
            t.send_text(str(t.buffered_amount))
        else:
            t.send_text(data)

    def _flood(self, turns: int, size: int) -> None:
        if turns == 0 or self.closed.done():
            return
        self.transport.send_bytes(b"x" * size)
        asyncio.get_running_loop().call_soon(self._flood, turns - 1, size)

    def on_close(self, code: int, reason: str) -> None:
        self.close_calls += 1
        if not self.closed.done():
            self.closed.set_result((code, reason))


@dataclass
class RecordingEngine:
    """The four calls the built-in server makes, recorded; no protocol logic."""

    path: str = "/engine.io/"
    options: Options = field(default_factory=Options)
    requests: list[HttpRequest] = field(default_factory=list)
    listeners: list[Listener] = field(default_factory=list)
    shutdowns: list[float] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    opened: asyncio.Queue[Listener] = field(default_factory=asyncio.Queue)

    def matches(self, path: str) -> bool:
        return path.startswith(self.path)

    async def handle_http(self, request: HttpRequest) -> HttpResponse:
        self.requests.append(request)
        if "hold" in request.query:
            await self.release.wait()
        if "fail" in request.query:
            raise RuntimeError("engine bug")
        if "size" in request.query:  # a body of that many bytes, as a static file would be
            return HttpResponse(200, [], b"x" * int(request.query["size"]))
        body = f"{request.method} {request.path} {request.query_string} {len(request.body)}"
        return HttpResponse(200, [("Content-Type", "text/plain")], body.encode())

    def check_websocket(self, request: HttpRequest) -> HttpResponse | None:
        if "reject" in request.query:
            return HttpResponse(403, [], b"forbidden")
        return None

    def open_websocket(
        self, request: HttpRequest, transport: WebSocketTransport
    ) -> WebSocketListener:
        self.requests.append(request)
        listener = Listener(self, transport)
        self.listeners.append(listener)
        if "hello" in request.query:
            transport.send_text("hello")  # sent before the server even starts reading
        self.opened.put_nowait(listener)
        return listener

    async def shutdown(self, timeout: float) -> None:
        self.shutdowns.append(timeout)
        self.release.set()
        for listener in self.listeners:
            listener.transport.close(1001, "server shutting down")


class App:
    """An application object with ``.engine`` and ``static_files``, like tidings.Server."""

    def __init__(self, engine: RecordingEngine, static_files: dict[str, str]) -> None:
        self.engine = engine
        self.static_files = static_files


# -- raw HTTP client ----------------------------------------------------------


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes


async def read_response(reader: asyncio.StreamReader, *, head: bool = False) -> Response:
    raw = await reader.readuntil(b"\r\n\r\n")
    lines = raw.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    body = b"" if head else await reader.readexactly(length)
    return Response(status, headers, body)


async def connect(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port)


async def request(port: int, raw: bytes, *, head: bool = False) -> Response:
    reader, writer = await connect(port)
    try:
        writer.write(raw)
        return await read_response(reader, head=head)
    finally:
        writer.close()


async def assert_closed(reader: asyncio.StreamReader) -> None:
    """The server closed the connection: EOF (or a reset), with nothing more to read."""
    try:
        data = await reader.read()
    except ConnectionResetError:
        return
    assert data == b""


# -- raw WebSocket client -----------------------------------------------------

MASK = b"\x0f\xa0\x55\x3c"


def ws_key() -> str:
    return base64.b64encode(os.urandom(16)).decode()


def upgrade_request(path: str = "/engine.io/?EIO=4&transport=websocket", **extra: str) -> bytes:
    headers = {
        "Host": "127.0.0.1",
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": ws_key(),
        "Sec-WebSocket-Version": "13",
        **extra,
    }
    lines = [f"GET {path} HTTP/1.1", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def frame(opcode: int, payload: bytes = b"", *, fin: bool = True, masked: bool = True) -> bytes:
    n = len(payload)
    first = (0x80 if fin else 0) | opcode
    bit = 0x80 if masked else 0
    if n < 126:
        head = bytes((first, bit | n))
    elif n < 65536:
        head = struct.pack("!BBH", first, bit | 126, n)
    else:
        head = struct.pack("!BBQ", first, bit | 127, n)
    return head + MASK + apply_mask(payload, MASK) if masked else head + payload


def close_frame(code: int, reason: str = "") -> bytes:
    return frame(Opcode.CLOSE, struct.pack("!H", code) + reason.encode())


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, bool, bytes]:
    b0, b1 = await reader.readexactly(2)
    assert not b1 & 0x80, "server frames are never masked"
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack("!H", await reader.readexactly(2))[0]
    elif n == 127:
        n = struct.unpack("!Q", await reader.readexactly(8))[0]
    return b0 & 0x0F, bool(b0 & 0x80), await reader.readexactly(n)


def parse_close(payload: bytes) -> tuple[int, str]:
    return struct.unpack("!H", payload[:2])[0], payload[2:].decode()


class WsClient:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(
        cls, port: int, path: str = "/engine.io/?EIO=4&transport=websocket", extra: bytes = b""
    ) -> tuple[WsClient, Response]:
        reader, writer = await connect(port)
        writer.write(upgrade_request(path) + extra)
        response = await read_response(reader)
        assert response.status == 101, response
        return cls(reader, writer), response

    def send(self, data: bytes) -> None:
        self.writer.write(data)

    def send_text(self, text: str) -> None:
        self.send(frame(Opcode.TEXT, text.encode()))

    async def recv(self) -> tuple[int, bytes]:
        opcode, fin, payload = await read_frame(self.reader)
        assert fin
        return opcode, payload

    async def recv_text(self) -> str:
        opcode, payload = await self.recv()
        assert opcode == Opcode.TEXT, (opcode, payload)
        return payload.decode()

    def close(self) -> None:
        self.writer.close()
