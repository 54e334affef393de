"""A raw route under a real ASGI server (uvicorn, in this process) through ``serve_route``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Origin

from tidings.asgi import request_from_scope, route_path, serve_route
from tidings.websocket_routes import WebSocket, WebSocketRoutes


def make_app(routes: WebSocketRoutes) -> Any:
    """The few lines ``tidings.ASGIApp`` needs: a websocket scope on a route's path goes to it."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "websocket":
            path = route_path(scope)
            route = routes.match(path)
            if route is not None:
                request = request_from_scope(scope, path)
                await serve_route(
                    route, request, receive, send, extensions=scope.get("extensions")
                )
                return
            await send({"type": "websocket.close", "code": 1000})
        elif scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})

    return app


@pytest.fixture
def routes() -> WebSocketRoutes:
    routes = WebSocketRoutes()

    @routes.route("/echo", max_message_size=10_000)
    async def echo(ws: WebSocket) -> None:
        async for message in ws:
            if message == "close please":
                await ws.close(4002, "as asked")
                return
            await ws.send(message)

    return routes


@pytest.fixture
async def port(routes: WebSocketRoutes) -> AsyncIterator[int]:
    config = uvicorn.Config(
        make_app(routes), host="127.0.0.1", port=0, log_level="warning", ws="websockets-sansio"
    )
    server = uvicorn.Server(config)
    task = asyncio.ensure_future(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)  # uvicorn offers no started event
    yield int(server.servers[0].sockets[0].getsockname()[1])
    server.should_exit = True
    await task


async def test_echo_and_client_close(port: int, routes: WebSocketRoutes) -> None:
    async with websockets.connect(f"ws://127.0.0.1:{port}/echo") as client:
        await client.send("hello")
        assert await client.recv() == "hello"
        await client.send(b"\x00" * 5000)
        assert await client.recv() == b"\x00" * 5000
        (ws,) = routes.sockets
        await client.close(4000, "bye")
    await ws.wait_closed()
    assert (ws.close_code, ws.close_reason) == (4000, "bye")


async def test_server_close_and_oversize(port: int) -> None:
    async with websockets.connect(f"ws://127.0.0.1:{port}/echo") as client:
        await client.send("close please")
        with pytest.raises(ConnectionClosed):
            await client.recv()
    assert (client.close_code, client.close_reason) == (4002, "as asked")
    async with websockets.connect(f"ws://127.0.0.1:{port}/echo") as client:
        await client.send("x" * 10_001)
        with pytest.raises(ConnectionClosed):
            await client.recv()
    assert client.close_code == 1009


async def test_ping_is_not_available_over_asgi(port: int, routes: WebSocketRoutes) -> None:
    outcome: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    @routes.route("/ping")
    async def ping(ws: WebSocket) -> None:
        try:
            ws.ping()
        except NotImplementedError as exc:
            outcome.set_result(str(exc))

    async with websockets.connect(f"ws://127.0.0.1:{port}/ping") as client:
        with pytest.raises(ConnectionClosed):
            await client.recv()
    assert "ping" in await outcome
    assert client.close_code == 1000


async def test_send_waits_for_the_asgi_writer(port: int, routes: WebSocketRoutes) -> None:
    after_send: list[int] = []

    @routes.route("/flood", write_limit=100_000)
    async def flood(ws: WebSocket) -> None:
        for _ in range(20):
            await ws.send(b"f" * 500_000)
            after_send.append(ws.buffered_amount)

    async with websockets.connect(f"ws://127.0.0.1:{port}/flood", max_size=None) as client:
        total = 0
        async for message in client:
            total += len(message)
    assert total == 10_000_000
    assert len(after_send) == 20 and max(after_send) <= 100_000


async def test_refusal_is_the_routes_own_response(port: int, routes: WebSocketRoutes) -> None:
    @routes.route("/private", allowed_origins=["https://good.example"])
    async def private(ws: WebSocket) -> None:
        await ws.send("welcome")

    with pytest.raises(InvalidStatus) as info:
        async with websockets.connect(
            f"ws://127.0.0.1:{port}/private", origin=Origin("https://evil.example")
        ):
            pass
    # uvicorn takes "websocket.http.response": the body is the route's, not the server's 403.
    assert info.value.response.status_code == 403
    assert info.value.response.body == b"origin not allowed\n"
    async with websockets.connect(
        f"ws://127.0.0.1:{port}/private", origin=Origin("https://good.example")
    ) as client:
        assert await client.recv() == "welcome"


async def test_a_cancelled_scope_closes_the_websocket(routes: WebSocketRoutes) -> None:
    """An ASGI server may cancel the app instead of reporting the disconnect."""
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    inbox.put_nowait({"type": "websocket.connect"})
    accepted = asyncio.Event()

    async def send(message: Any) -> None:
        if message["type"] == "websocket.accept":
            accepted.set()

    scope = {"type": "websocket", "path": "/echo", "headers": [], "query_string": b""}
    request = request_from_scope(scope, "/echo")
    route = routes.match("/echo")
    assert route is not None
    task = asyncio.ensure_future(serve_route(route, request, inbox.get, send))
    await accepted.wait()
    (ws,) = routes.sockets
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.wait_for(ws.wait_closed(), 2)
    assert ws.close_code == 1006
