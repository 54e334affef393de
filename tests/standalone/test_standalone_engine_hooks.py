"""The engine's hooks on the built-in server's WebSocket upgrade, over loopback sockets.

An ``async`` ``allow_request`` deciding a WebSocket handshake (no polling first) is waited
for before the 101, so a refusal is the 403 Node answers; what the ``initial_headers`` and
``headers`` listeners add goes with the 101, as in Node and under ASGI.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest

from tests.standalone.standalone_helpers import (
    assert_closed,
    connect,
    read_response,
    upgrade_request,
)
from tidings.engine import EngineServer, RefusedRequest
from tidings.engine.io import HttpRequest
from tidings.standalone import HttpServer, serve

pytestmark = pytest.mark.timeout(15)

WS = "/engine.io/?EIO=4&transport=websocket"


class Gate:
    """An ``async`` ``allow_request`` that answers when the test says: the query's
    ``deny`` refuses with that message, else it allows."""

    def __init__(self) -> None:
        self.called = asyncio.Event()
        self.release = asyncio.Event()

    async def __call__(self, request: HttpRequest) -> bool | str:
        self.called.set()
        await self.release.wait()
        return request.query.get("deny") or True


@pytest.fixture
def gate() -> Gate:
    return Gate()


@pytest.fixture
def engine(gate: Gate) -> EngineServer:
    return EngineServer(allow_request=gate, ping_interval=5, ping_timeout=5, per_message_deflate=True)


@pytest.fixture
async def server(engine: EngineServer) -> AsyncIterator[HttpServer]:
    async with serve(engine, "127.0.0.1", 0) as srv:
        yield srv
        await srv.close(timeout=0.5)


def refusals(engine: EngineServer) -> asyncio.Queue[RefusedRequest]:
    queue: asyncio.Queue[RefusedRequest] = asyncio.Queue()
    engine.on("connection_error", queue.put_nowait)
    return queue


async def test_async_refusal_is_a_403_before_any_101(
    server: HttpServer, engine: EngineServer, gate: Gate
) -> None:
    errors = refusals(engine)
    reader, writer = await connect(server.port)
    writer.write(upgrade_request(WS + "&deny=nope"))
    await gate.called.wait()
    gate.release.set()
    # The first answer is the refusal: no 101 was written while allow_request decided.
    response = await read_response(reader)
    assert response.status == 403
    assert json.loads(response.body) == {"code": 4, "message": "nope"}
    await assert_closed(reader)
    writer.close()
    error = await errors.get()
    assert (error.code, error.context) == (4, {"message": "nope"})
    assert not engine.sockets


async def test_async_allow_upgrades_with_the_listeners_headers(
    server: HttpServer, engine: EngineServer, gate: Gate
) -> None:
    engine.on("initial_headers", lambda headers, req: headers.update({"X-Initial": "yes"}))
    engine.on("headers", lambda headers, req: headers.update({"X-Every": "on"}))
    gate.release.set()
    reader, writer = await connect(server.port)
    writer.write(upgrade_request(WS, **{"Sec-WebSocket-Extensions": "permessage-deflate"}))
    response = await read_response(reader)
    assert response.status == 101
    assert response.headers["x-initial"] == "yes" and response.headers["x-every"] == "on"
    assert response.headers["sec-websocket-extensions"].startswith("permessage-deflate")
    # The session is open: its OPEN packet is the first frame (uncompressed: it is small).
    first = await reader.readexactly(2)
    assert first[0] & 0x0F == 0x1
    packet = await reader.readexactly(first[1] & 0x7F)
    assert packet.startswith(b"0{") and len(engine.sockets) == 1
    writer.close()


async def test_client_gone_before_the_verdict_gets_no_session(
    server: HttpServer, engine: EngineServer, gate: Gate
) -> None:
    errors = refusals(engine)
    _reader, writer = await connect(server.port)
    writer.write(upgrade_request(WS + "&deny=late"))
    await gate.called.wait()
    writer.transport.abort()  # a reset: the server loses the connection at once
    gate.release.set()
    # The verdict is still taken in: the engine tells of the refusal, forgets the request
    # and opens nothing for the client that left.
    error = await errors.get()
    assert (error.code, error.context) == (4, {"message": "late"})
    assert not engine.sockets and not engine._pending


async def test_a_plain_allow_request_needs_no_wait(server: HttpServer) -> None:
    async with serve(EngineServer(allow_request=lambda req: "sync"), "127.0.0.1", 0) as plain:
        reader, writer = await connect(plain.port)
        writer.write(upgrade_request(WS))
        response = await read_response(reader)
        assert response.status == 403
        assert json.loads(response.body) == {"code": 4, "message": "sync"}
        writer.close()
