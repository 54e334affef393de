from __future__ import annotations

import asyncio
import base64
import hashlib
import socket
from collections.abc import AsyncIterator
from typing import cast

import pytest

from tests.standalone.standalone_helpers import (
    Prepared,
    RecordingEngine,
    WsClient,
    assert_closed,
    close_frame,
    connect,
    frame,
    parse_close,
    read_frame,
    read_response,
    upgrade_request,
)
from tidings.protocol.websocket import Opcode
from tidings.standalone import HttpOptions, HttpServer, serve
from tidings.standalone.context import ConnectionContext
from tidings.standalone.http_protocol import HttpProtocol
from tidings.standalone.websocket_protocol import WebSocketProtocol


async def test_handshake_and_echo(server: HttpServer, engine: RecordingEngine) -> None:
    reader, writer = await connect(server.port)
    key = base64.b64encode(b"0123456789abcdef").decode()
    raw = upgrade_request().replace(
        b"Sec-WebSocket-Key: ", b"Sec-WebSocket-Key: " + key.encode() + b"\r\nX-Old: "
    )
    writer.write(raw)
    response = await read_response(reader)
    assert response.status == 101
    expected = base64.b64encode(
        hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()
    ).decode()
    assert response.headers["sec-websocket-accept"] == expected
    assert response.headers["upgrade"] == "websocket"
    assert "sec-websocket-extensions" not in response.headers
    ws = WsClient(reader, writer)
    listener = await engine.opened.get()
    assert engine.requests[0].query == {"EIO": "4", "transport": "websocket"}
    ws.send_text("héllo")
    assert await ws.recv_text() == "héllo"
    ws.send(frame(Opcode.BINARY, b"\x00\xff" * 4000))
    assert await ws.recv() == (Opcode.BINARY, b"\x00\xff" * 4000)
    assert listener.messages == ["héllo", b"\x00\xff" * 4000]
    assert server.connection_count == 1
    ws.close()


async def test_frames_sent_with_the_upgrade_request_are_read(
    server: HttpServer, engine: RecordingEngine
) -> None:
    ws, _ = await WsClient.open(
        server.port, extra=frame(Opcode.TEXT, b"early") + frame(Opcode.PING, b"p")
    )
    # the pong is queued while reading, the echo after the message is handed over
    assert {await ws.recv(), await ws.recv()} == {(Opcode.TEXT, b"early"), (Opcode.PONG, b"p")}
    ws.close()


async def test_engine_may_send_during_open(server: HttpServer) -> None:
    ws, _ = await WsClient.open(server.port, "/engine.io/?hello")
    assert await ws.recv_text() == "hello"
    ws.close()


async def test_fragmented_message_with_ping(server: HttpServer) -> None:
    ws, _ = await WsClient.open(server.port)
    ws.send(
        frame(Opcode.TEXT, b"ab", fin=False) + frame(Opcode.PING, b"hb") + frame(Opcode.CONT, b"cd")
    )
    assert await ws.recv() == (Opcode.PONG, b"hb")
    assert await ws.recv_text() == "abcd"
    ws.close()


async def test_client_close_handshake(server: HttpServer, engine: RecordingEngine) -> None:
    ws, _ = await WsClient.open(server.port)
    listener = await engine.opened.get()
    ws.send(close_frame(1000, "bye"))
    opcode, payload = await ws.recv()
    assert opcode == Opcode.CLOSE and parse_close(payload) == (1000, "")
    await assert_closed(ws.reader)
    assert await listener.closed == (1000, "bye")
    assert listener.close_calls == 1


async def test_server_close_handshake(server: HttpServer, engine: RecordingEngine) -> None:
    ws, _ = await WsClient.open(server.port)
    listener = await engine.opened.get()
    ws.send_text("close:4000,done")
    opcode, payload = await ws.recv()
    assert opcode == Opcode.CLOSE and parse_close(payload) == (4000, "done")
    assert not listener.closed.done()  # the handshake is not over yet
    ws.send(close_frame(4000))
    await assert_closed(ws.reader)
    assert await listener.closed == (4000, "")


@pytest.mark.parametrize("options", [HttpOptions(ws_close_timeout=0.2)])
async def test_close_timeout_drops_silent_peer(server: HttpServer, engine: RecordingEngine) -> None:
    ws, _ = await WsClient.open(server.port)
    listener = await engine.opened.get()
    ws.send_text("close:1000,")
    assert (await ws.recv())[0] == Opcode.CLOSE
    # no answer from us: the server gives up
    assert await asyncio.wait_for(listener.closed, 5) == (1006, "close timeout")
    await assert_closed(ws.reader)


async def test_tcp_drop_reports_1006(server: HttpServer, engine: RecordingEngine) -> None:
    ws, _ = await WsClient.open(server.port)
    listener = await engine.opened.get()
    ws.close()
    assert await listener.closed == (1006, "")
    while server.connection_count:
        await asyncio.sleep(0.01)


@pytest.mark.parametrize(
    ("bad", "code"),
    [
        (frame(Opcode.TEXT, b"x", masked=False), 1002),
        (frame(Opcode.TEXT, b"\xff"), 1007),
        (frame(Opcode.BINARY, b"x" * 10_001), 1009),
        (frame(0x3, b""), 1002),
    ],
)
async def test_bad_frames_fail_the_connection(
    server: HttpServer, engine: RecordingEngine, bad: bytes, code: int
) -> None:
    ws, _ = await WsClient.open(server.port)
    listener = await engine.opened.get()
    ws.send(bad)
    opcode, payload = await ws.recv()
    assert opcode == Opcode.CLOSE and parse_close(payload)[0] == code
    await assert_closed(ws.reader)
    assert (await listener.closed)[0] == code
    # others carry on
    other, _ = await WsClient.open(server.port)
    other.send_text("still here")
    assert await other.recv_text() == "still here"
    other.close()


async def test_listener_exception_closes_with_1011(
    server: HttpServer, engine: RecordingEngine
) -> None:
    ws, _ = await WsClient.open(server.port)
    listener = await engine.opened.get()
    ws.send_text("raise")
    opcode, payload = await ws.recv()
    assert opcode == Opcode.CLOSE and parse_close(payload)[0] == 1011
    assert (await listener.closed)[0] == 1011


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ((b"Sec-WebSocket-Version: 13", b"Sec-WebSocket-Version: 8"), 426),
        ((b"Connection: Upgrade", b"Connection: keep-alive"), 400),
        ((b"Sec-WebSocket-Key: ", b"Sec-WebSocket-Key: bad"), 400),
        ((b"?EIO=4", b"?reject=1"), 403),
        ((b"/engine.io/", b"/elsewhere/"), 404),
    ],
)
async def test_refused_upgrades(
    server: HttpServer, engine: RecordingEngine, change: tuple[bytes, bytes], status: int
) -> None:
    reader, writer = await connect(server.port)
    writer.write(upgrade_request().replace(*change))
    response = await read_response(reader)
    assert response.status == status
    if status == 426:
        assert response.headers["sec-websocket-version"] == "13"
    await assert_closed(reader)
    assert engine.listeners == []


class CountingTransport:
    """Wraps the real transport of one connection and counts ``write`` calls."""

    def __init__(self, inner: asyncio.Transport, writes: list[bytes]) -> None:
        self.inner = inner
        self.writes = writes

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))
        self.inner.write(data)

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


@pytest.fixture
async def counted(engine: RecordingEngine) -> AsyncIterator[tuple[int, list[bytes]]]:
    """A listener whose connections write through a ``CountingTransport``: the protocols
    use the transport they are given, the WebSocket the one its HTTP protocol had."""
    loop = asyncio.get_running_loop()
    context = ConnectionContext(
        loop=loop,
        options=HttpOptions(),
        engine=engine,
        routes=None,
        static=None,
        flush_batch=WebSocketProtocol.flush_batch,
    )
    writes: list[bytes] = []

    class CountingHttpProtocol(HttpProtocol):
        __slots__ = ()

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            super().connection_made(CountingTransport(cast(asyncio.Transport, transport), writes))

    listening = await loop.create_server(lambda: CountingHttpProtocol(context), "127.0.0.1", 0)
    try:
        yield int(listening.sockets[0].getsockname()[1]), writes
    finally:
        listening.close()
        for conn in list(context.connections):
            conn.abort()
        await listening.wait_closed()


async def test_frames_of_one_turn_leave_in_one_write(
    counted: tuple[int, list[bytes]], engine: RecordingEngine
) -> None:
    port, writes = counted
    ws, _ = await WsClient.open(port)
    await engine.opened.get()
    writes.clear()  # the 101
    ws.send_text("burst:5")
    for i in range(5):
        assert await ws.recv_text() == f"m{i}"
    assert len(writes) == 1
    assert writes[0] == b"".join(
        frame(Opcode.TEXT, f"m{i}".encode(), masked=False) for i in range(5)
    )
    ws.send_text("prepared:a,b")
    assert [await ws.recv_text(), await ws.recv_text()] == ["a", "b"]
    assert len(writes) == 2
    ws.close()


async def test_one_flush_callback_per_turn_for_all_connections(
    server: HttpServer, engine: RecordingEngine
) -> None:
    clients = [(await WsClient.open(server.port))[0] for _ in range(3)]
    listeners = [await engine.opened.get() for _ in range(3)]
    loop = asyncio.get_running_loop()
    scheduled: list[object] = []
    real_call_soon = loop.call_soon

    def spy(callback, *args, **kwargs):  # type: ignore[no-untyped-def]
        scheduled.append(callback)
        return real_call_soon(callback, *args, **kwargs)

    loop.call_soon = spy  # type: ignore[method-assign]
    try:
        for listener in listeners:  # a broadcast: three connections, two messages each
            listener.transport.send_text("one")
            listener.transport.send_text("two")
    finally:
        loop.call_soon = real_call_soon  # type: ignore[method-assign]
    assert len(scheduled) == 1
    for client in clients:
        assert [await client.recv_text(), await client.recv_text()] == ["one", "two"]
        client.close()


async def test_buffered_amount(server: HttpServer, engine: RecordingEngine) -> None:
    ws, _ = await WsClient.open(server.port)
    listener = await engine.opened.get()
    listener.transport.send_text("x" * 100)
    assert listener.transport.buffered_amount == 102
    assert await ws.recv_text() == "x" * 100
    ws.send_text("buffered")
    assert await ws.recv_text() == "0"
    ws.close()


async def test_buffered_amount_counts_every_frame_queued_this_turn(
    server: HttpServer, engine: RecordingEngine
) -> None:
    ws, _ = await WsClient.open(server.port)
    listener = await engine.opened.get()
    t = listener.transport
    t.send_text("x" * 10)
    t.send_prepared(Prepared(["y" * 20, "z"]))
    t.send_bytes(b"w" * 200)
    assert t.buffered_amount == 12 + (22 + 3) + 204
    assert [await ws.recv_text() for _ in range(3)] == ["x" * 10, "y" * 20, "z"]
    assert await ws.recv() == (Opcode.BINARY, b"w" * 200)
    ws.close()


@pytest.mark.parametrize("options", [HttpOptions(ws_max_buffered=256 * 1024)])
async def test_peer_not_reading_is_closed_with_1008(
    server: HttpServer, engine: RecordingEngine
) -> None:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", server.port))
    reader, writer = await asyncio.open_connection(sock=sock)
    writer.write(upgrade_request())
    assert (await read_response(reader)).status == 101
    listener = await engine.opened.get()
    writer.write(frame(Opcode.TEXT, b"flood:400,65536"))  # 25 MiB over 400 turns; we never read
    assert await asyncio.wait_for(listener.closed, 10) == (1008, "too much data buffered")
    writer.close()


async def test_graceful_close_with_websockets(engine: RecordingEngine) -> None:
    async with serve(engine, "127.0.0.1", 0) as server:
        ws, _ = await WsClient.open(server.port)
        listener = await engine.opened.get()
        closing = asyncio.ensure_future(server.close(timeout=5))
        opcode, payload = await ws.recv()
        assert opcode == Opcode.CLOSE and parse_close(payload) == (1001, "server shutting down")
        ws.send(close_frame(1001))
        await closing
        assert engine.shutdowns == [5]
        assert await listener.closed == (1001, "")
        await assert_closed(ws.reader)
        assert server.connection_count == 0


async def test_graceful_close_without_peer_answer_is_bounded() -> None:
    class Quiet(RecordingEngine):
        async def shutdown(self, timeout: float) -> None:
            self.shutdowns.append(timeout)

    engine = Quiet()
    async with serve(engine, "127.0.0.1", 0) as server:
        ws, _ = await WsClient.open(server.port)
        listener = await engine.opened.get()
        await server.close(timeout=0.3)  # we never answer the server's 1001
        opcode, _, payload = await read_frame(ws.reader)
        assert opcode == Opcode.CLOSE and parse_close(payload)[0] == 1001
        await assert_closed(ws.reader)
        assert (await listener.closed)[0] == 1006


async def test_messages_after_the_listener_closed_are_not_delivered(
    server: HttpServer, engine: RecordingEngine
) -> None:
    ws, _ = await WsClient.open(server.port)
    listener = await engine.opened.get()
    ws.send(frame(Opcode.TEXT, b"close:1000,enough") + frame(Opcode.TEXT, b"late"))
    opcode, payload = await ws.recv()
    assert opcode == Opcode.CLOSE and parse_close(payload) == (1000, "enough")
    ws.send(close_frame(1000))
    await assert_closed(ws.reader)
    assert listener.messages == ["close:1000,enough"]
    assert await listener.closed == (1000, "")


async def test_messages_before_a_peer_close_are_delivered(
    server: HttpServer, engine: RecordingEngine
) -> None:
    ws, _ = await WsClient.open(server.port)
    listener = await engine.opened.get()
    ws.send(frame(Opcode.TEXT, b"one") + frame(Opcode.BINARY, b"two") + close_frame(1001))
    assert await listener.closed == (1001, "")
    assert listener.messages == ["one", b"two"]
