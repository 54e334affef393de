"""One built-in server, one port: Socket.IO under /socket.io/ and a raw WebSocket route at "/"."""

from __future__ import annotations

from typing import Any

import pytest
import websockets

import tidings
from tests.standalone.standalone_helpers import request
from tidings.client import Client
from tidings.standalone import serve
from tidings.websocket_routes import WebSocket, WebSocketRoutes


@pytest.mark.parametrize("transports", [("websocket",), ("polling", "websocket")])
async def test_socketio_and_raw_route_on_one_server(transports: tuple[str, ...]) -> None:
    sio = tidings.Server()

    @sio.on("echo")
    async def echo_event(socket: tidings.Socket, *args: Any) -> Any:
        return args[0] if len(args) == 1 else args

    app = WebSocketRoutes(sio)

    @app.route("/")
    async def echo(ws: WebSocket) -> None:
        async for message in ws:
            await ws.send(message)

    async with serve(app, "127.0.0.1", 0) as server:
        client = Client()
        await client.connect(f"http://127.0.0.1:{server.port}", transports=transports)
        try:
            async with websockets.connect(f"ws://127.0.0.1:{server.port}/") as raw:
                await raw.send("raw hello")
                assert await client.emit_with_ack("echo", "sio hello") == "sio hello"
                assert await raw.recv() == "raw hello"
                await raw.send(b"\x42")
                assert await raw.recv() == b"\x42"
            assert await client.emit_with_ack("echo", [1, 2]) == [1, 2]
        finally:
            await client.disconnect()
        # a plain GET of "/" is not the route's (static files would have it)
        response = await request(server.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert response.status == 404


async def test_routes_alone_serve_no_socketio() -> None:
    app = WebSocketRoutes()

    @app.route("/ws")
    async def hello(ws: WebSocket) -> None:
        await ws.send(f"hello {ws.request.query.get('name', '?')}")

    async with serve(app, "127.0.0.1", 0) as server:
        async with websockets.connect(f"ws://127.0.0.1:{server.port}/ws?name=ada") as raw:
            assert await raw.recv() == "hello ada"
        response = await request(
            server.port, b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\n\r\n"
        )
        assert response.status == 404


async def test_routes_declared_on_the_socketio_server() -> None:
    sio = tidings.Server()

    @sio.websocket("/echo")
    async def echo(ws: WebSocket) -> None:
        async for message in ws:
            await ws.send(message)

    async with serve(sio, "127.0.0.1", 0) as server:
        async with websockets.connect(f"ws://127.0.0.1:{server.port}/echo") as raw:
            await raw.send("straight from the server")
            assert await raw.recv() == "straight from the server"
        client = Client()
        await client.connect(f"http://127.0.0.1:{server.port}", transports=("websocket",))
        assert client.connected
        await client.disconnect()
