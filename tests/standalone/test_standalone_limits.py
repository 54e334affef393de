"""The built-in server's HTTP limits against a hostile client (issue 14): what it holds
for one connection is asserted on the sizes of its buffers, never on timing."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import cast

import pytest

from tests.standalone.standalone_helpers import (
    RecordingEngine,
    assert_closed,
    connect,
    read_response,
)
from tidings.standalone import HttpOptions, HttpServer
from tidings.standalone.context import ConnectionContext
from tidings.standalone.http_protocol import HttpProtocol
from tidings.standalone.websocket_protocol import WebSocketProtocol

# -- headers and request targets that never end -------------------------------

NEVER_ENDING = {
    "header value": b"GET /engine.io/ HTTP/1.1\r\nHost: x\r\nX-Endless: ",
    "header name": b"GET /engine.io/ HTTP/1.1\r\nHost: x\r\nX-Endless",
}


@pytest.mark.parametrize("options", [HttpOptions(header_timeout=3600.0)])
@pytest.mark.parametrize("start", NEVER_ENDING.values(), ids=list(NEVER_ENDING))
async def test_a_header_that_never_ends_is_answered_431_at_the_limit(
    server: HttpServer, options: HttpOptions, start: bytes
) -> None:
    """The 431 comes once ``max_header_bytes`` is passed, not at the header deadline (an
    hour here): the server never held more of the head than the limit and one read."""
    reader, writer = await connect(server.port)
    writer.write(start)
    sent = len(start)
    while sent <= options.max_header_bytes:  # no end of the header, ever
        writer.write(b"a" * 1024)
        sent += 1024
    response = await asyncio.wait_for(read_response(reader), 30)
    assert response.status == 431
    assert response.headers["connection"] == "close"
    await assert_closed(reader)
    writer.close()


@pytest.mark.parametrize("options", [HttpOptions(header_timeout=3600.0)])
async def test_a_request_target_that_never_ends_is_answered_414(
    server: HttpServer, options: HttpOptions
) -> None:
    reader, writer = await connect(server.port)
    writer.write(b"GET /")
    for _ in range(options.max_url_bytes // 1024 + 1):
        writer.write(b"a" * 1024)
    response = await asyncio.wait_for(read_response(reader), 30)
    assert response.status == 414
    await assert_closed(reader)
    writer.close()


async def test_pipelined_heads_over_the_limit_together_are_each_within_it(
    server: HttpServer, engine: RecordingEngine
) -> None:
    """Head bytes are counted per request: three 10 KB heads in one write are served."""
    head = b"GET /engine.io/ HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"p" * 10_000 + b"\r\n\r\n"
    reader, writer = await connect(server.port)
    writer.write(head * 3)
    for _ in range(3):
        assert (await read_response(reader)).status == 200
    assert len(engine.requests) == 3
    writer.close()


# -- pipelined requests whose answers are never read ---------------------------


class ObservedTransport:
    """The server's transport, recording the largest output it held after a write, and
    reporting when the server stopped both answering and reading."""

    def __init__(self, inner: asyncio.Transport) -> None:
        self.inner = inner
        self.peak_buffered = 0
        self.reading = True
        self.answering = True
        self.stalled = asyncio.Event()

    def write(self, data: bytes) -> None:
        self.inner.write(data)
        self.peak_buffered = max(self.peak_buffered, self.inner.get_write_buffer_size())

    def pause_reading(self) -> None:
        self.reading = False
        self.inner.pause_reading()
        self.check()

    def resume_reading(self) -> None:
        self.reading = True
        self.inner.resume_reading()

    def check(self) -> None:
        if not self.reading and not self.answering:
            self.stalled.set()

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


@pytest.fixture
async def observed(engine: RecordingEngine) -> AsyncIterator[tuple[int, list[ObservedTransport]]]:
    loop = asyncio.get_running_loop()
    context = ConnectionContext(
        loop=loop,
        options=HttpOptions(),
        engine=engine,
        routes=None,
        static=None,
        flush_batch=WebSocketProtocol.flush_batch,
    )
    transports: list[ObservedTransport] = []

    class ObservedHttpProtocol(HttpProtocol):
        __slots__ = ("observed",)

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            sock = transport.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8192)  # little in the kernel
            self.observed = ObservedTransport(cast(asyncio.Transport, transport))
            transports.append(self.observed)
            super().connection_made(self.observed)

        def pause_writing(self) -> None:
            super().pause_writing()
            self.observed.answering = False
            self.observed.check()

        def resume_writing(self) -> None:
            self.observed.answering = True
            super().resume_writing()

    listening = await loop.create_server(lambda: ObservedHttpProtocol(context), "127.0.0.1", 0)
    try:
        yield int(listening.sockets[0].getsockname()[1]), transports
    finally:
        listening.close()
        for conn in list(context.connections):
            conn.abort()
        await listening.wait_closed()


async def test_pipelined_requests_never_read_keep_the_output_bounded(
    observed: tuple[int, list[ObservedTransport]], engine: RecordingEngine
) -> None:
    port, transports = observed
    limit = HttpOptions().write_buffer_limit
    size, n = 8192, 1000
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a client that reads nothing
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    reader, writer = await asyncio.open_connection(sock=sock)
    one = f"GET /engine.io/?size={size} HTTP/1.1\r\nHost: x\r\nX-Pad: {'p' * 1000}\r\n\r\n"
    writer.write(one.encode() * n)  # about 1 MB of requests, 8 MB of answers
    (server_side,) = transports
    await server_side.stalled.wait()
    # It stopped answering above the limit, and reading at max_pipelined waiting requests.
    assert server_side.peak_buffered <= limit + size + 1024
    assert len(engine.requests) < n // 2
    for _ in range(n):  # the client reads at last: everything is answered, in order
        response = await read_response(reader)
        assert response.status == 200 and len(response.body) == size
    assert len(engine.requests) == n
    assert server_side.peak_buffered <= limit + size + 1024
    writer.close()
