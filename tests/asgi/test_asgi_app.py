"""``ASGIApp`` driven in this loop by a small in-memory ASGI server: the cases a real server
makes hard to time (a client leaving during a held poll) and the routing rules."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, MutableMapping
from pathlib import Path
from typing import Any

import pytest

import tidings
from tidings.asgi import ASGIApp, ASGIWebSocket, route_path
from tidings.engine import EngineServer

from .hosted_apps import HANDSHAKE, EngineSite, echo_routes

Message = MutableMapping[str, Any]


class Exchange:
    """One ASGI connection: what the app will receive, and what it sent."""

    def __init__(self, app: Any, scope: Message, incoming: Iterable[Message] = ()) -> None:
        self.inbox: asyncio.Queue[Message] = asyncio.Queue()
        for message in incoming:
            self.inbox.put_nowait(message)
        self.sent: list[Message] = []
        self.sent_event = asyncio.Event()
        self.task = asyncio.ensure_future(app(scope, self.receive, self.send))

    async def receive(self) -> Message:
        return await self.inbox.get()

    async def send(self, message: Message) -> None:
        self.sent.append(message)
        self.sent_event.set()

    async def next_sent(self, kind: str) -> Message:
        seen = 0
        while True:
            for message in self.sent[seen:]:
                seen += 1
                if message["type"] == kind:
                    self.sent.remove(message)
                    return message
            self.sent_event.clear()
            await asyncio.wait_for(self.sent_event.wait(), 2)


WS_QUERY = b"EIO=4&transport=websocket"


def http_scope(path: str, query: str = "", method: str = "GET", **extra: Any) -> Message:
    headers = extra.pop("headers", [])
    return {"type": "http", "method": method, "path": path, "query_string": query.encode(),
            "headers": headers, "root_path": "", "scheme": "http", "client": ("127.0.0.1", 5),
            **extra}


async def http(app: Any, path: str, query: str = "", method: str = "GET", body: bytes = b"",
               **extra: Any) -> tuple[int, dict[str, str], bytes]:
    ex = Exchange(app, http_scope(path, query, method, **extra),
                  [{"type": "http.request", "body": body, "more_body": False}])
    await asyncio.wait_for(ex.task, 2)
    start, *bodies = ex.sent
    headers = {k.decode(): v.decode() for k, v in start["headers"]}
    return start["status"], headers, b"".join(b["body"] for b in bodies)


def engine() -> EngineServer:
    return EngineServer(path="/engine.io/", max_payload=100, cors_allowed_origins=["http://ok"])


async def handshake(app: Any) -> str:
    status, _, body = await http(app, "/engine.io/", "EIO=4&transport=polling")
    assert status == 200
    return str(json.loads(body[1:])["sid"])


async def until(predicate: Any) -> None:
    """Let the loop run until ``predicate()`` holds (it turns on work of this very loop)."""
    for _ in range(1000):
        if predicate():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never held")


async def test_client_leaving_a_held_poll_ends_the_session_at_once() -> None:
    """As Node's engine.io does ("poll connection closed prematurely"): without the
    disconnect the session would linger until its ping timeout, and what it was
    sent meanwhile would go to a connection nobody reads."""
    eng = engine()
    closed: list[str] = []
    eng.on("close", lambda s, reason: closed.append(reason))
    app = ASGIApp(eng)
    sid = await handshake(app)
    socket = eng.sockets[sid]
    poll = Exchange(app, http_scope("/engine.io/", f"EIO=4&transport=polling&sid={sid}"),
                    [{"type": "http.request", "body": b""}])
    await until(lambda: socket.writable)  # the poll is held
    poll.inbox.put_nowait({"type": "http.disconnect"})
    await asyncio.wait_for(poll.task, 2)
    assert poll.sent == []
    assert socket.closed
    assert closed == ["transport error"]
    assert sid not in eng.sockets


async def test_a_held_poll_is_answered_when_data_comes() -> None:
    eng = engine()
    app = ASGIApp(eng)
    sid = await handshake(app)
    poll = Exchange(app, http_scope("/engine.io/", f"EIO=4&transport=polling&sid={sid}"),
                    [{"type": "http.request", "body": b""}])
    await until(lambda: eng.sockets[sid].writable)
    eng.sockets[sid].send(b"\x01\x02")
    body = await poll.next_sent("http.response.body")
    assert body["body"] == b"bAQI="
    await asyncio.wait_for(poll.task, 2)


async def test_websocket_session_and_oversize_message() -> None:
    eng = engine()
    closed: list[str] = []
    received: list[str | bytes] = []

    @eng.on("message")
    def echo(socket: Any, data: str | bytes) -> None:
        received.append(data)
        socket.send(data)

    eng.on("close", lambda s, reason: closed.append(reason))
    app = ASGIApp(eng)
    scope = {"type": "websocket", "path": "/engine.io/", "query_string": WS_QUERY,
             "headers": [], "scheme": "ws", "client": ("127.0.0.1", 5)}
    ws = Exchange(app, scope, [{"type": "websocket.connect"}])
    await ws.next_sent("websocket.accept")
    opened = await ws.next_sent("websocket.send")
    assert opened["text"].startswith("0{")
    ws.inbox.put_nowait({"type": "websocket.receive", "text": "4hello"})
    ws.inbox.put_nowait({"type": "websocket.receive", "bytes": b"\x00bin"})
    assert (await ws.next_sent("websocket.send"))["text"] == "4hello"
    assert (await ws.next_sent("websocket.send"))["bytes"] == b"\x00bin"
    assert received == ["hello", b"\x00bin"]

    ws.inbox.put_nowait({"type": "websocket.receive", "text": "4" + "x" * 100})
    close = await ws.next_sent("websocket.close")
    assert close["code"] == 1009
    await asyncio.wait_for(ws.task, 2)
    assert closed == ["transport error"]  # what the engine makes of a 1009
    assert eng.sockets == {}


async def test_websocket_cancelled_by_the_server_ends_the_session() -> None:
    eng = engine()
    closed: list[str] = []
    eng.on("close", lambda s, reason: closed.append(reason))
    app = ASGIApp(eng)
    scope = {"type": "websocket", "path": "/engine.io/", "query_string": WS_QUERY,
             "headers": [], "scheme": "ws"}
    ws = Exchange(app, scope, [{"type": "websocket.connect"}])
    await ws.next_sent("websocket.send")  # the OPEN packet: the session exists
    assert len(eng.sockets) == 1
    ws.task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await ws.task
    assert closed == ["transport close"]
    assert eng.sockets == {}


async def test_websocket_refusal_with_and_without_http_response() -> None:
    app = ASGIApp(engine())
    scope = {"type": "websocket", "path": "/engine.io/", "query_string": WS_QUERY,
             "headers": [(b"origin", b"http://evil"), (b"host", b"x")], "scheme": "ws"}
    plain = Exchange(app, scope, [{"type": "websocket.connect"}])
    await asyncio.wait_for(plain.task, 2)
    assert [m["type"] for m in plain.sent] == ["websocket.close"]  # before accept: a 403

    rich = Exchange(app, {**scope, "extensions": {"websocket.http.response": {}}},
                    [{"type": "websocket.connect"}])
    await asyncio.wait_for(rich.task, 2)
    start, body = rich.sent
    assert (start["type"], start["status"]) == ("websocket.http.response.start", 403)
    assert json.loads(body["body"])["code"] == 4


async def test_oversize_post_is_413_before_the_engine_sees_it() -> None:
    eng = engine()
    app = ASGIApp(eng)
    sid = await handshake(app)
    query = f"EIO=4&transport=polling&sid={sid}"
    status, _, _ = await http(app, "/engine.io/", query, "POST", b"4" * 101,
                              headers=[(b"content-length", b"101")])
    assert status == 413
    streamed = Exchange(app, http_scope("/engine.io/", query, "POST"), [
        {"type": "http.request", "body": b"4" * 60, "more_body": True},
        {"type": "http.request", "body": b"4" * 60, "more_body": True},
    ])
    await asyncio.wait_for(streamed.task, 2)
    assert streamed.sent[0]["status"] == 413
    status, _, body = await http(app, "/engine.io/", query, "POST", b"4fine")
    assert (status, body) == (200, b"ok")
    assert not eng.sockets[sid].closed


async def test_lifespan_without_other_app() -> None:
    calls: list[str] = []

    async def async_hook() -> None:
        calls.append("startup")

    app = ASGIApp(engine(), on_startup=async_hook, on_shutdown=lambda: calls.append("shutdown"))
    life = Exchange(app, {"type": "lifespan"}, [{"type": "lifespan.startup"}])
    assert (await life.next_sent("lifespan.startup.complete"))
    life.inbox.put_nowait({"type": "lifespan.shutdown"})
    await life.next_sent("lifespan.shutdown.complete")
    await asyncio.wait_for(life.task, 2)
    assert calls == ["startup", "shutdown"]


async def test_failing_startup_is_reported() -> None:
    async def broken() -> None:
        raise RuntimeError("no database")

    life = Exchange(ASGIApp(engine(), on_startup=broken), {"type": "lifespan"},
                    [{"type": "lifespan.startup"}])
    failed = await life.next_sent("lifespan.startup.failed")
    assert "no database" in failed["message"]
    await asyncio.wait_for(life.task, 2)


async def test_lifespan_forwarded_to_other_app_after_ours() -> None:
    order: list[str] = []

    async def other(scope: Message, receive: Any, send: Any) -> None:
        assert scope["type"] == "lifespan"
        while True:
            message = await receive()
            order.append("other " + message["type"])
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                return

    eng = engine()
    app = ASGIApp(eng, other, on_startup=lambda: order.append("tidings startup"),
                  on_shutdown=lambda: order.append("tidings shutdown"), shutdown_timeout=0.1)
    sid = await handshake(app)
    life = Exchange(app, {"type": "lifespan"},
                    [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
    await asyncio.wait_for(life.task, 2)
    assert order == ["tidings startup", "other lifespan.startup",
                     "tidings shutdown", "other lifespan.shutdown"]
    # The engine's shutdown ended the polling session (nobody came for its CLOSE).
    assert sid not in eng.sockets


async def test_routing_mounts_and_other_app() -> None:
    seen: list[str] = []

    async def other(scope: Message, receive: Any, send: Any) -> None:
        seen.append(scope["type"] + " " + scope["path"])
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body", "body": b""})
        else:
            await send({"type": "websocket.close", "code": 1000})

    app = ASGIApp(engine(), other)
    # Mounted at /sub (root_path): the engine path is below it.
    status, _, body = await http(app, "/sub/engine.io/", "EIO=4&transport=polling",
                                 root_path="/sub")
    assert status == 200 and body.startswith(b"0{")
    status, _, _ = await http(app, "/elsewhere")
    assert status == 204
    ws = Exchange(app, {"type": "websocket", "path": "/chat", "query_string": b"", "headers": []},
                  [{"type": "websocket.connect"}])
    await asyncio.wait_for(ws.task, 2)
    assert seen == ["http /elsewhere", "websocket /chat"]

    # Its own socketio_path: the engine answers there and not at its own path.
    moved = ASGIApp(engine(), socketio_path="realtime")
    assert moved.socketio_path == "/realtime/"
    status, _, body = await http(moved, "/realtime/", "EIO=4&transport=polling")
    assert status == 200 and body.startswith(b"0{")
    status, _, _ = await http(moved, "/engine.io/", "EIO=4&transport=polling")
    assert status == 404
    lone = Exchange(moved, {"type": "websocket", "path": "/chat", "query_string": b"",
                            "headers": []}, [{"type": "websocket.connect"}])
    await asyncio.wait_for(lone.task, 2)
    assert [m["type"] for m in lone.sent] == ["websocket.close"]


async def test_routes_of_the_server_beside_the_engine() -> None:
    """``@sio.websocket`` routes are served by the same accept and receive loop as the engine."""
    sio = tidings.Server()

    @sio.websocket("/echo")
    async def echo(ws: tidings.WebSocket) -> None:
        async for message in ws:
            await ws.send(message)

    app = ASGIApp(sio)
    ws = Exchange(app, {"type": "websocket", "path": "/echo", "query_string": b"",
                        "headers": []}, [{"type": "websocket.connect"}])
    await ws.next_sent("websocket.accept")
    ws.inbox.put_nowait({"type": "websocket.receive", "text": "hello"})
    ws.inbox.put_nowait({"type": "websocket.receive", "bytes": b"\x00raw"})
    assert (await ws.next_sent("websocket.send"))["text"] == "hello"
    assert (await ws.next_sent("websocket.send"))["bytes"] == b"\x00raw"
    (route_ws,) = sio.websocket_routes.sockets
    ws.inbox.put_nowait({"type": "websocket.disconnect", "code": 4000, "reason": "bye"})
    await asyncio.wait_for(ws.task, 2)
    await asyncio.wait_for(route_ws.wait_closed(), 2)
    assert (route_ws.close_code, route_ws.close_reason) == (4000, "bye")


@pytest.mark.parametrize(("path", "root", "expected"), [
    ("/socket.io/", "", "/socket.io/"),
    ("/sub/socket.io/", "/sub", "/socket.io/"),
    ("/sub", "/sub", "/"),
    ("/subway/x", "/sub", "/subway/x"),
])
def test_route_path(path: str, root: str, expected: str) -> None:
    assert route_path({"path": path, "root_path": root}) == expected


async def test_static_files(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("<h1>hi</h1>")
    app = ASGIApp(engine(), static_files={"/": tmp_path})
    status, headers, body = await http(app, "/")
    assert (status, body) == (200, b"<h1>hi</h1>")
    assert headers["content-type"] == "text/html; charset=utf-8"
    status, headers, body = await http(app, "/index.html", method="HEAD")
    assert (status, body, headers["content-length"]) == (200, b"", "11")
    status, _, _ = await http(app, "/index.html", method="POST")
    assert status == 405
    status, _, body = await http(app, "/engine.io/", "EIO=4&transport=polling")
    assert status == 200 and body.startswith(b"0{")  # the engine's path wins over "/"


async def test_writer_stops_queueing_once_the_peer_is_gone() -> None:
    sent: list[Message] = []

    async def failing_send(message: Message) -> None:
        sent.append(message)
        raise OSError("connection reset")

    transport = ASGIWebSocket(failing_send, 100)
    transport.send_text("4a")
    transport.send_bytes(b"bb")
    assert transport.buffered_amount == 4
    await asyncio.wait_for(transport.run(), 2)
    assert len(sent) == 1
    transport.send_text("4later")
    assert transport.buffered_amount == 0


def test_needs_an_engine() -> None:
    with pytest.raises(TypeError):
        ASGIApp(object())


async def test_lifespan_falls_back_to_the_engines_startup_and_shutdown(tmp_path: Path) -> None:
    """An app with an ``.engine`` and no ``startup``/``shutdown`` of its own, as the
    built-in server hosts it: shutdown refuses new sessions, startup accepts them again."""
    app = ASGIApp(EngineSite(tmp_path), shutdown_timeout=0.1)
    life = Exchange(app, {"type": "lifespan"}, [{"type": "lifespan.startup"}])
    await life.next_sent("lifespan.startup.complete")
    life.inbox.put_nowait({"type": "lifespan.shutdown"})
    await life.next_sent("lifespan.shutdown.complete")
    await asyncio.wait_for(life.task, 2)
    status, _, _ = await http(app, "/engine.io/", HANDSHAKE)
    assert status == 503

    again = Exchange(app, {"type": "lifespan"}, [{"type": "lifespan.startup"}])
    await again.next_sent("lifespan.startup.complete")
    status, _, _ = await http(app, "/engine.io/", HANDSHAKE)
    assert status == 200
    again.inbox.put_nowait({"type": "lifespan.shutdown"})
    await again.next_sent("lifespan.shutdown.complete")


async def test_lifespan_shutdown_is_bounded() -> None:
    """An app whose shutdown overruns its timeout by a second is given up on, as the
    built-in server does: the ASGI server hears of a failed shutdown."""
    stopping = asyncio.Event()
    cancelled = asyncio.Event()

    class Stuck:
        engine = engine()

        async def shutdown(self, timeout: float) -> None:
            stopping.set()
            try:
                await asyncio.Event().wait()  # never set
            except asyncio.CancelledError:
                cancelled.set()
                raise

    app = ASGIApp(Stuck(), shutdown_timeout=0.01)
    life = Exchange(app, {"type": "lifespan"}, [{"type": "lifespan.shutdown"}])
    failed = await life.next_sent("lifespan.shutdown.failed")
    assert stopping.is_set() and cancelled.is_set()
    assert "TimeoutError" in failed["message"]
    await asyncio.wait_for(life.task, 2)


async def test_the_apps_static_files_and_the_argument(tmp_path: Path) -> None:
    """The app's own ``static_files`` are served; ``static_files=`` wins for the same URL."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "a.txt").write_text("site a")
    (site / "b.txt").write_text("site b")
    (tmp_path / "other.txt").write_text("argument b")
    app = ASGIApp(EngineSite(site), static_files={"/b.txt": tmp_path / "other.txt"})
    assert (await http(app, "/a.txt"))[2] == b"site a"
    assert (await http(app, "/b.txt"))[2] == b"argument b"


async def test_websocket_routes_alone() -> None:
    """No engine: nothing answers at the Engine.IO path, the routes still do."""
    app = ASGIApp(echo_routes())
    status, _, body = await http(app, "/socket.io/", HANDSHAKE)
    assert (status, body) == (404, b"Not Found\n")
    ws = Exchange(app, {"type": "websocket", "path": "/echo", "query_string": b"",
                        "headers": []}, [{"type": "websocket.connect"}])
    await ws.next_sent("websocket.accept")
    ws.inbox.put_nowait({"type": "websocket.receive", "text": "hello"})
    assert (await ws.next_sent("websocket.send"))["text"] == "hello"
    ws.inbox.put_nowait({"type": "websocket.disconnect", "code": 1000})
    await asyncio.wait_for(ws.task, 2)
