"""Engine hooks at the WebSocket upgrade, on the ASGI app (docs/engine-hooks.md): it waits
for an async ``allow_request`` before accepting, so a refusal is the 403 Node answers, and
sends what the ``initial_headers``/``headers`` listeners add with the accept (the 101)."""

from __future__ import annotations

import asyncio
from typing import Any

import tidings
from tidings.engine import HttpRequest


async def websocket_scope(app: tidings.ASGIApp, query: str, extensions: dict[str, Any]) -> list[dict[str, Any]]:
    """Drive one websocket scope until the app accepts or refuses it; what it sent."""
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    await inbox.put({"type": "websocket.connect"})
    sent: list[dict[str, Any]] = []
    decided = asyncio.Event()

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)
        if message["type"] in ("websocket.accept", "websocket.close", "websocket.http.response.body"):
            decided.set()

    scope = {
        "type": "websocket", "path": "/socket.io/", "raw_path": b"/socket.io/",
        "query_string": f"EIO=4&transport=websocket&{query}".encode(), "headers": [(b"host", b"t")],
        "client": ("127.0.0.1", 5000), "scheme": "ws", "extensions": extensions,
    }
    task = asyncio.ensure_future(app(scope, inbox.get, send))
    await asyncio.wait_for(decided.wait(), 5)
    await inbox.put({"type": "websocket.disconnect", "code": 1000})
    await asyncio.wait_for(task, 5)
    return sent


async def test_a_refusal_is_a_403_before_the_accept() -> None:
    async def allow(request: HttpRequest) -> bool | str:
        await asyncio.sleep(0.01)
        return request.query.get("deny") or True

    sio = tidings.Server(allow_request=allow)
    errors: list[Any] = []
    sio.engine.on("connection_error", errors.append)
    app = tidings.ASGIApp(sio)
    sent = await websocket_scope(app, "deny=nope", {"websocket.http.response": {}})
    assert [m["type"] for m in sent] == ["websocket.http.response.start", "websocket.http.response.body"]
    assert sent[0]["status"] == 403
    assert sent[1]["body"] == b'{"code":4,"message":"nope"}'
    # Without the extension: a close before accept (the ASGI server answers 403).
    sent = await websocket_scope(app, "deny=nope", {})
    assert [m["type"] for m in sent] == ["websocket.close"]
    assert [(e.code, e.context) for e in errors] == [(4, {"message": "nope"})] * 2
    # Allowed: accepted, then the OPEN packet.
    sent = await websocket_scope(app, "", {})
    assert sent[0]["type"] == "websocket.accept"
    await sio.shutdown(0.5)


async def test_headers_listeners_add_to_the_101() -> None:
    sio = tidings.Server()
    sio.engine.on("initial_headers", lambda headers, req: headers.update({"X-Initial": "yes"}))
    sio.engine.on("headers", lambda headers, req: headers.update({"X-Every": "sid" if "sid" in req.query else "new"}))
    app = tidings.ASGIApp(sio)
    sent = await websocket_scope(app, "", {})
    assert sent[0]["type"] == "websocket.accept"
    assert sorted(sent[0]["headers"]) == [(b"x-every", b"new"), (b"x-initial", b"yes")]
    # No listener, no headers key: the accept is as it was.
    plain = tidings.ASGIApp(tidings.Server())
    sent = await websocket_scope(plain, "", {})
    assert sent[0] == {"type": "websocket.accept"}
    await sio.shutdown(0.5)
