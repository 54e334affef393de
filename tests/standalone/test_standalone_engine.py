"""The built-in server carrying the real ``EngineServer`` over loopback sockets."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest

from tests.standalone.standalone_helpers import WsClient, close_frame, parse_close, request
from tidings.engine import EngineServer, EngineSocket
from tidings.protocol.prepared import PreparedMessage
from tidings.protocol.websocket import Opcode
from tidings.standalone import HttpServer, serve


@pytest.fixture
def real_engine() -> EngineServer:
    engine = EngineServer(ping_interval=5, ping_timeout=5, max_payload=100_000)
    engine.on("message", lambda socket, data: socket.send(data))
    return engine


@pytest.fixture
async def eio_server(real_engine: EngineServer) -> AsyncIterator[HttpServer]:
    async with serve(real_engine, "127.0.0.1", 0) as server:
        yield server
        # a polling session that never polls again holds shutdown until its timeout
        await server.close(timeout=0.5)


async def test_polling_handshake(eio_server: HttpServer) -> None:
    response = await request(
        eio_server.port, b"GET /engine.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    assert response.status == 200
    assert response.body.startswith(b"0{")
    handshake = json.loads(response.body[1:])
    assert handshake["upgrades"] == ["websocket"] and len(handshake["sid"]) == 20


async def test_websocket_session_echo_and_prepared(
    eio_server: HttpServer, real_engine: EngineServer
) -> None:
    ws, _ = await WsClient.open(eio_server.port)
    opened = await ws.recv_text()
    assert opened.startswith("0{")
    sid = json.loads(opened[1:])["sid"]
    ws.send_text("4hello")
    assert await ws.recv_text() == "4hello"
    socket: EngineSocket = real_engine.sockets[sid]
    socket.send_prepared(PreparedMessage(["a", b"\x01\x02"]))
    assert await ws.recv_text() == "4a"
    assert await ws.recv() == (Opcode.BINARY, b"\x01\x02")
    ws.close()


async def test_shutdown_closes_engine_sessions(real_engine: EngineServer) -> None:
    async with serve(real_engine, "127.0.0.1", 0) as server:
        ws, _ = await WsClient.open(server.port)
        assert (await ws.recv_text()).startswith("0{")
        closing = asyncio.ensure_future(server.close(timeout=3))
        while True:  # the engine may say goodbye before the close frame
            opcode, payload = await asyncio.wait_for(ws.recv(), 5)
            if opcode == Opcode.CLOSE:
                break
        assert parse_close(payload)[0] in (1000, 1001)
        ws.send(close_frame(1000))
        await closing
        assert real_engine.sockets == {}
        assert server.connection_count == 0
