"""Local misuse raises at once: route registration, options, and calls on a live WebSocket."""

from __future__ import annotations

import asyncio

import pytest
import websockets

from tidings.standalone import serve
from tidings.websocket_routes import WebSocket, WebSocketOptions, WebSocketRoutes


async def handler(ws: WebSocket) -> None:
    pass


def test_registration_errors() -> None:
    routes = WebSocketRoutes()
    routes.add("/a", handler)
    with pytest.raises(ValueError, match="exists"):
        routes.add("/a", handler)
    with pytest.raises(ValueError, match="starts with"):
        routes.add("a", handler)
    with pytest.raises(TypeError, match="async"):
        routes.add("/b", lambda ws: None)  # type: ignore[arg-type,return-value]
    with pytest.raises(ValueError, match="max_message_size"):
        routes.add("/c", handler, max_message_size=0)
    assert routes.match("/a") is not None and routes.match("/a/") is None


def test_options_defaults_and_overrides() -> None:
    with pytest.raises(ValueError):
        WebSocketOptions(max_queue=0)
    routes = WebSocketRoutes(options=WebSocketOptions(max_message_size=5, write_limit=7))
    route = routes.add("/x", handler, max_queue=3, allowed_origins=["https://a.example"])
    assert route.options == WebSocketOptions(
        max_message_size=5,
        max_queue=3,
        write_limit=7,
        allowed_origins=frozenset({"https://a.example"}),
    )


async def test_misuse_on_a_live_websocket() -> None:
    errors: asyncio.Future[list[str]] = asyncio.get_running_loop().create_future()
    routes = WebSocketRoutes()

    @routes.route("/misuse")
    async def misuse(ws: WebSocket) -> None:
        seen: list[str] = []
        for code, reason in ((1005, ""), (1000, "x" * 124)):
            with pytest.raises(ValueError) as info:
                await ws.close(code, reason)
            seen.append(str(info.value))
        with pytest.raises(ValueError):
            ws.ping(b"p" * 126)
        ws.ping(b"same")
        with pytest.raises(ValueError):
            ws.ping(b"same")
        with pytest.raises(TypeError):
            await ws.send(42)  # type: ignore[arg-type]
        reader = asyncio.ensure_future(ws.receive())
        await asyncio.sleep(0)  # let it start waiting
        with pytest.raises(RuntimeError):
            await ws.receive()
        assert await reader == "go"
        errors.set_result(seen)
        await ws.send("done")

    async with serve(routes, "127.0.0.1", 0) as srv:
        async with websockets.connect(f"ws://127.0.0.1:{srv.port}/misuse") as client:
            await client.send("go")
            assert await client.recv() == "done"
        assert await errors == [
            "close code 1005 may not be sent",
            "a close reason is at most 123 UTF-8 bytes",
        ]
