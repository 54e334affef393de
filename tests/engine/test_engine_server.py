"""EngineServer driven through the I/O contract, with a recording WebSocket transport."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from urllib.parse import urlencode

import orjson
import pytest

from tidings.engine import (
    EngineServer,
    EngineSocket,
    HttpRequest,
    HttpResponse,
    PreparedMessage,
)
from tidings.engine.context import CHECK_EVERY
from tidings.engine.io import PreparedFrames


class RecordingWebSocket:
    """The I/O side of an accepted WebSocket: records what the engine gives it."""

    def __init__(self) -> None:
        self.sent: list[str | bytes] = []
        self.prepared: list[PreparedFrames] = []
        self.closed: tuple[int, str] | None = None
        self.closed_event = asyncio.Event()
        self.buffered = 0

    def send_text(self, data: str) -> None:
        assert self.closed is None
        self.sent.append(data)

    def send_bytes(self, data: bytes) -> None:
        assert self.closed is None
        self.sent.append(data)

    def send_prepared(self, prepared: PreparedFrames) -> None:
        assert self.closed is None
        self.prepared.append(prepared)
        self.sent.extend(prepared.ws_messages)

    def close(self, code: int = 1000, reason: str = "") -> None:
        self.closed = (code, reason)
        self.closed_event.set()

    @property
    def buffered_amount(self) -> int:
        return self.buffered


class Recorder:
    """An EngineHandler that records and, when asked, echoes."""

    def __init__(self, echo: bool = True) -> None:
        self.echo = echo
        self.connected: list[EngineSocket] = []
        self.messages: list[tuple[str, str | bytes]] = []
        self.closed: list[tuple[str, str]] = []
        self.closed_event = asyncio.Event()

    def connection_opened(self, socket: EngineSocket) -> None:
        self.connected.append(socket)

    def message_received(self, socket: EngineSocket, data: str | bytes) -> None:
        self.messages.append((socket.sid, data))
        if self.echo:
            socket.send(data)

    def connection_closed(self, socket: EngineSocket, reason: str) -> None:
        self.closed.append((socket.sid, reason))
        self.closed_event.set()


def request(
    method: str = "GET",
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    path: str = "/engine.io/",
    **query: str,
) -> HttpRequest:
    query.setdefault("EIO", "4")
    query.setdefault("transport", "polling")
    return HttpRequest(
        method=method,
        path=path,
        query_string=urlencode(query),
        query=dict(query),
        headers={"host": "127.0.0.1:3000", **(headers or {})},
        body=body,
        client=("127.0.0.1", 50000),
    )


def ws_request(headers: dict[str, str] | None = None, **query: str) -> HttpRequest:
    query.setdefault("transport", "websocket")
    return request(headers=headers, **query)


def header(response: HttpResponse, name: str) -> str | None:
    for key, value in response.headers:
        if key.lower() == name.lower():
            return value
    return None


def error_code(response: HttpResponse) -> int:
    code = orjson.loads(response.body)["code"]
    assert isinstance(code, int)
    return code


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Let the loop run until ``condition`` holds, for at most ``timeout`` seconds.

    For what a task reaches within a few loop turns: bounded by time, not by a count
    of turns, so a loaded machine does not fail it.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("condition never became true")
        await asyncio.sleep(0)


async def handshake(server: EngineServer) -> EngineSocket:
    response = await server.handle_http(request())
    assert response.status == 200, response.body
    sid = orjson.loads(response.body[1:])["sid"]
    return server.sockets[sid]


async def hold_poll(server: EngineServer, sock: EngineSocket) -> asyncio.Task[HttpResponse]:
    task = asyncio.create_task(server.handle_http(request(sid=sock.sid)))
    await until(lambda: sock.session.poll_held)
    return task


def open_ws(server: EngineServer, **query: str) -> tuple[RecordingWebSocket, EngineSocket | None]:
    req = ws_request(**query)
    assert server.check_websocket(req) is None
    ws = RecordingWebSocket()
    server.open_websocket(req, ws)
    sid = query.get("sid")
    if sid is None and ws.sent:
        first = ws.sent[0]
        assert isinstance(first, str)
        sid = orjson.loads(first[1:])["sid"]
    return ws, server.sockets.get(sid) if sid else None


# -- handshake and errors ------------------------------------------------------------------


async def test_polling_handshake() -> None:
    handler = Recorder()
    server = EngineServer(handler, ping_interval=0.3, ping_timeout=0.2)
    response = await server.handle_http(request())
    assert response.status == 200
    assert header(response, "content-type") == "text/plain; charset=UTF-8"
    assert response.body.startswith(b"0")
    opened = orjson.loads(response.body[1:])
    assert opened["upgrades"] == ["websocket"]
    assert (opened["pingInterval"], opened["pingTimeout"], opened["maxPayload"]) == (
        300,
        200,
        1_000_000,
    )
    sid = opened["sid"]
    assert len(sid) == 20 and all(c.isalnum() or c in "-_" for c in sid)
    assert handler.connected == [server.sockets[sid]]
    assert server.sockets[sid].transport_name == "polling"


@pytest.mark.parametrize(
    ("req", "code"),
    [
        (request(transport="abc"), 0),
        (request(EIO="abc"), 5),
        (request(EIO="3"), 5),
        (request(method="POST"), 2),
        (request(method="PUT"), 2),
        (request(sid="unknown"), 1),
        (request(method="POST", body=b"4x", sid="unknown"), 1),
    ],
)
async def test_bad_requests_get_nodes_errors(req: HttpRequest, code: int) -> None:
    server = EngineServer(Recorder())
    response = await server.handle_http(req)
    assert response.status == 400
    assert header(response, "content-type") == "application/json"
    assert error_code(response) == code
    assert not server.sockets


async def test_handshake_without_eio_parameter_is_refused() -> None:
    server = EngineServer(Recorder())
    req = request()
    del req.query["EIO"]
    assert (await server.handle_http(req)).status == 400


async def test_matches_the_engine_path_only() -> None:
    server = EngineServer(path="/engine.io")
    assert server.options.path == "/engine.io/"
    assert server.matches("/engine.io/") and server.matches("/engine.io")
    assert not server.matches("/engine.iox") and not server.matches("/socket.io/")
    assert (await server.handle_http(request(path="/elsewhere"))).status == 404


async def test_max_connections_refuses_handshakes() -> None:
    server = EngineServer(Recorder(), max_connections=1)
    await handshake(server)
    refused = await server.handle_http(request())
    assert refused.status == 503
    rejection = server.check_websocket(ws_request())
    assert rejection is not None and rejection.status == 503
    assert len(server.sockets) == 1


# -- long-polling --------------------------------------------------------------------------


async def test_post_then_poll_echoes() -> None:
    handler = Recorder()
    server = EngineServer(handler)
    sock = await handshake(server)
    post = await server.handle_http(request("POST", b"4hello\x1ebAQIDBA==", sid=sock.sid))
    assert (post.status, post.body) == (200, b"ok")
    assert handler.messages == [(sock.sid, "hello"), (sock.sid, b"\x01\x02\x03\x04")]
    poll = await server.handle_http(request(sid=sock.sid))
    assert poll.status == 200 and poll.body == b"4hello\x1ebAQIDBA=="


async def test_held_poll_coalesces_sends_of_one_turn() -> None:
    server = EngineServer(Recorder())
    sock = await handshake(server)
    task = await hold_poll(server, sock)
    assert sock.writable
    sock.send("a")
    sock.send(b"\x01")
    sock.send("b")
    response = await task
    assert response.body == b"4a\x1ebAQ==\x1e4b"
    assert not sock.writable


async def test_concurrent_polls_close_the_session() -> None:
    handler = Recorder()
    server = EngineServer(handler)
    sock = await handshake(server)
    first = await hold_poll(server, sock)
    second = await server.handle_http(request(sid=sock.sid))
    assert second.status == 400
    assert (await first).body == b"1"
    assert handler.closed == [(sock.sid, "transport error")]
    assert (await server.handle_http(request(sid=sock.sid))).status == 400


async def test_invalid_post_closes_with_parse_error() -> None:
    handler = Recorder()
    server = EngineServer(handler)
    sock = await handshake(server)
    response = await server.handle_http(request("POST", b"abc", sid=sock.sid))
    assert response.status == 400
    assert handler.closed == [(sock.sid, "parse error")]
    assert sock.sid not in server.sockets


async def test_oversized_post_is_refused_with_413() -> None:
    handler = Recorder()
    server = EngineServer(handler, max_payload=100)
    sock = await handshake(server)
    response = await server.handle_http(request("POST", b"4" + b"x" * 100, sid=sock.sid))
    assert response.status == 413
    assert handler.messages == [] and sock.sid in server.sockets


async def test_client_close_releases_held_poll_with_noop() -> None:
    handler = Recorder()
    server = EngineServer(handler)
    sock = await handshake(server)
    task = await hold_poll(server, sock)
    assert (await server.handle_http(request("POST", b"1", sid=sock.sid))).status == 200
    assert (await task).body == b"6"
    assert handler.closed == [(sock.sid, "transport close")]


async def test_abandoned_poll_closes_the_session() -> None:
    handler = Recorder()
    server = EngineServer(handler)
    sock = await handshake(server)
    task = await hold_poll(server, sock)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert handler.closed == [(sock.sid, "transport error")]


async def test_server_close_drains_then_closes() -> None:
    handler = Recorder()
    server = EngineServer(handler)
    sock = await handshake(server)
    sock.send("bye")
    sock.close()
    assert handler.closed == []  # the client has yet to learn of it
    response = await server.handle_http(request(sid=sock.sid))
    assert response.body == b"4bye"
    assert handler.closed == []
    response = await server.handle_http(request(sid=sock.sid))
    assert response.body == b"1"
    assert handler.closed == [(sock.sid, "forced close")]


async def test_outgoing_buffer_limit_over_polling() -> None:
    handler = Recorder()
    server = EngineServer(handler, max_buffered_bytes=1000)
    sock = await handshake(server)
    sock.send("x" * 600)
    sock.send("x" * 600)
    assert handler.closed == [(sock.sid, "transport error")]


# -- heartbeat (real, short timers) --------------------------------------------------------


async def test_polling_heartbeat_and_ping_timeout() -> None:
    handler = Recorder()
    server = EngineServer(handler, ping_interval=0.05, ping_timeout=0.05)
    sock = await handshake(server)
    for _ in range(2):
        response = await asyncio.wait_for(server.handle_http(request(sid=sock.sid)), 2)
        assert response.body == b"2"
        assert (await server.handle_http(request("POST", b"3", sid=sock.sid))).status == 200
    response = await asyncio.wait_for(server.handle_http(request(sid=sock.sid)), 2)
    assert response.body == b"2"
    await asyncio.wait_for(handler.closed_event.wait(), 2)
    assert handler.closed == [(sock.sid, "ping timeout")]
    assert (await server.handle_http(request(sid=sock.sid))).status == 400


async def test_websocket_ping_timeout_closes_the_websocket() -> None:
    handler = Recorder()
    server = EngineServer(handler, ping_interval=0.05, ping_timeout=0.05)
    ws, sock = open_ws(server)
    assert sock is not None
    await asyncio.wait_for(handler.closed_event.wait(), 2)
    assert ws.sent[1:] == ["2"]
    assert ws.closed is not None
    assert handler.closed == [(sock.sid, "ping timeout")]


async def test_idle_sessions_cost_no_task() -> None:
    server = EngineServer(Recorder())
    await handshake(server)  # binds the loop
    before = len(asyncio.all_tasks())
    for _ in range(50):
        open_ws(server)
        await handshake(server)
    assert len(asyncio.all_tasks()) == before
    assert len(server.sockets) == 101


# -- WebSocket -----------------------------------------------------------------------------


async def test_websocket_session_echoes_text_and_binary() -> None:
    handler = Recorder()
    server = EngineServer(handler)
    req = ws_request()
    assert server.check_websocket(req) is None
    ws = RecordingWebSocket()
    listener = server.open_websocket(req, ws)
    first = ws.sent[0]
    assert isinstance(first, str) and first.startswith("0")
    assert orjson.loads(first[1:])["upgrades"] == []
    sock = handler.connected[0]
    assert sock.transport_name == "websocket"
    listener.on_message("4hello")
    listener.on_message(b"\x01\x02")
    assert ws.sent[1:] == ["4hello", b"\x01\x02"]
    listener.on_close(1000, "")
    assert handler.closed == [(sock.sid, "transport close")]
    listener.on_message("4late")
    assert len(handler.messages) == 2


@pytest.mark.parametrize(
    "query", [{"EIO": "abc"}, {"transport": "abc"}, {"transport": "polling"}, {"sid": "nope"}]
)
async def test_websocket_refusals(query: dict[str, str]) -> None:
    server = EngineServer(Recorder())
    rejection = server.check_websocket(ws_request(**query))
    assert rejection is not None and rejection.status == 400


async def test_websocket_parse_error_closes_only_that_session() -> None:
    handler = Recorder()
    server = EngineServer(handler)
    other, _ = open_ws(server)
    ws = RecordingWebSocket()
    listener = server.open_websocket(ws_request(), ws)
    listener.on_message("abc")
    assert ws.closed is not None
    assert [reason for _, reason in handler.closed] == ["parse error"]
    assert other.closed is None and len(server.sockets) == 1


async def test_websocket_close_packet() -> None:
    handler = Recorder()
    server = EngineServer(handler)
    ws = RecordingWebSocket()
    listener = server.open_websocket(ws_request(), ws)
    listener.on_message("1")
    assert ws.closed is not None
    assert handler.closed[0][1] == "transport close"


async def test_websocket_backpressure_limit() -> None:
    handler = Recorder(echo=False)
    server = EngineServer(handler, max_buffered_bytes=1000)
    ws, sock = open_ws(server)
    assert sock is not None and sock.writable
    ws.buffered = 70_000
    assert not sock.writable  # volatile emits skip it
    ws.buffered = 1001
    sock.send("x")
    assert ws.closed is not None
    assert handler.closed == [(sock.sid, "transport error")]


# -- upgrade -------------------------------------------------------------------------------


async def test_upgrade_from_polling_to_websocket() -> None:
    handler = Recorder()
    server = EngineServer(handler)
    sock = await handshake(server)
    held = await hold_poll(server, sock)
    req = ws_request(sid=sock.sid)
    assert server.check_websocket(req) is None
    ws = RecordingWebSocket()
    listener = server.open_websocket(req, ws)
    listener.on_message("2probe")
    assert ws.sent == ["3probe"]
    assert (await held).body == b"6"
    sock.send("while upgrading")
    listener.on_message("5")
    assert sock.transport_name == "websocket"
    assert ws.sent[1:] == ["4while upgrading"]
    listener.on_message("4hello")
    assert ws.sent[-1] == "4hello"
    after = await server.handle_http(request(sid=sock.sid))
    assert after.status == 400 and error_code(after) == 3
    # A second WebSocket for the same session is accepted, then closed at once.
    ws2 = RecordingWebSocket()
    listener2 = server.open_websocket(ws_request(sid=sock.sid), ws2)
    assert ws2.closed is not None and ws2.sent == []
    listener2.on_message("4ignored")
    assert handler.messages == [(sock.sid, "hello")]
    assert sock.sid in server.sockets


async def test_upgrade_timeout_keeps_polling() -> None:
    handler = Recorder()
    server = EngineServer(handler, upgrade_timeout=0.02)
    sock = await handshake(server)
    ws, _ = open_ws(server, sid=sock.sid)
    await asyncio.wait_for(ws.closed_event.wait(), 5)  # the 20 ms upgrade timer fired
    assert sock.transport_name == "polling" and sock.sid in server.sockets
    sock.send("still here")
    assert (await server.handle_http(request(sid=sock.sid))).body == b"4still here"


# -- broadcast hot path --------------------------------------------------------------------


async def test_send_prepared_reaches_both_transports() -> None:
    server = EngineServer(Recorder(echo=False))
    ws_a, a = open_ws(server)
    ws_b, b = open_ws(server)
    polled = await handshake(server)
    assert a is not None and b is not None
    prepared = PreparedMessage(['2["hi"]', b"\x01"])
    for sock in (a, b, polled):
        sock.send_prepared(prepared)
    assert ws_a.prepared == [prepared] and ws_b.prepared[0] is prepared
    assert ws_a.sent[1:] == ['42["hi"]', b"\x01"]
    response = await server.handle_http(request(sid=polled.sid))
    assert response.body == b'42["hi"]\x1ebAQ=='


# -- CORS ----------------------------------------------------------------------------------


async def test_cors_star() -> None:
    server = EngineServer(Recorder(), cors_allowed_origins="*")
    response = await server.handle_http(request(headers={"origin": "http://elsewhere.test"}))
    assert response.status == 200
    assert header(response, "access-control-allow-origin") == "*"
    preflight = await server.handle_http(
        request(
            "OPTIONS",
            headers={"origin": "http://x.test", "access-control-request-headers": "content-type"},
        )
    )
    assert preflight.status == 204
    assert header(preflight, "access-control-allow-methods") == "GET, POST, OPTIONS"
    assert header(preflight, "access-control-allow-headers") == "content-type"


async def test_cors_list_with_credentials() -> None:
    server = EngineServer(
        Recorder(), cors_allowed_origins=["https://app.test"], cors_credentials=True
    )
    ok = await server.handle_http(request(headers={"origin": "https://app.test"}))
    assert header(ok, "access-control-allow-origin") == "https://app.test"
    assert header(ok, "access-control-allow-credentials") == "true"
    bad = await server.handle_http(request(headers={"origin": "https://evil.test"}))
    assert bad.status == 403 and error_code(bad) == 4
    rejection = server.check_websocket(ws_request(headers={"origin": "https://evil.test"}))
    assert rejection is not None and rejection.status == 403
    assert server.check_websocket(ws_request(headers={"origin": "https://app.test"})) is None
    assert server.check_websocket(ws_request()) is None  # no Origin: not a browser
    assert len(server.sockets) == 1


async def test_default_is_same_origin_only() -> None:
    server = EngineServer(Recorder())
    same = await server.handle_http(request(headers={"origin": "http://127.0.0.1:3000"}))
    assert same.status == 200 and header(same, "access-control-allow-origin") is None
    cross = await server.handle_http(request(headers={"origin": "http://127.0.0.1:4000"}))
    assert cross.status == 403
    rejection = server.check_websocket(ws_request(headers={"origin": "http://evil.test"}))
    assert rejection is not None and rejection.status == 403


# -- shutdown, errors, callbacks -----------------------------------------------------------


async def test_shutdown_closes_every_session() -> None:
    handler = Recorder()
    server = EngineServer(handler)
    polled = await handshake(server)
    held = await hold_poll(server, polled)
    idle = await handshake(server)  # no poll pending: closed when the timeout runs out
    ws, wsock = open_ws(server)
    assert wsock is not None
    await server.shutdown(timeout=0.05)
    assert (await held).body == b"1"
    assert ws.closed is not None
    assert sorted(handler.closed) == sorted(
        (s.sid, "server shutting down") for s in (polled, idle, wsock)
    )
    assert not server.sockets
    assert (await server.handle_http(request())).status == 503


async def test_shutdown_during_an_upgrade_closes_over_the_new_websocket() -> None:
    """Once the probe is answered, the client stops polling: a "1" left for its next poll
    would never reach it, so the close waits for its UPGRADE and goes over the WebSocket."""
    handler = Recorder()
    server = EngineServer(handler)
    sock = await handshake(server)
    held = await hold_poll(server, sock)
    ws = RecordingWebSocket()
    listener = server.open_websocket(ws_request(sid=sock.sid), ws)
    listener.on_message("2probe")
    assert (await held).body == b"6"  # the client pauses its polling on this
    shutdown = asyncio.create_task(server.shutdown(timeout=5))
    await asyncio.sleep(0)
    assert ws.closed is None and not shutdown.done()
    listener.on_message("5")
    await asyncio.wait_for(shutdown, 5)
    assert ws.closed == (1000, "")
    assert handler.closed == [(sock.sid, "server shutting down")]


async def test_shutdown_does_not_wait_out_its_timeout_for_an_upgrade_that_stalls() -> None:
    handler = Recorder()
    server = EngineServer(handler)
    sock = await handshake(server)
    ws = RecordingWebSocket()
    listener = server.open_websocket(ws_request(sid=sock.sid), ws)
    listener.on_message("2probe")  # and the client is gone before its UPGRADE
    # Given up after the polling grace (a second), not the 60 s asked for.
    await asyncio.wait_for(server.shutdown(timeout=60), 30)
    assert handler.closed == [(sock.sid, "server shutting down")]


async def test_sessions_after_a_restart_get_their_heartbeat() -> None:
    """Shutdown drops the loop and its heap; a session opened after startup uses new ones."""
    handler = Recorder()
    server = EngineServer(handler, ping_interval=0.05, ping_timeout=1)
    open_ws(server)
    await server.shutdown(timeout=0.05)
    await server.startup()
    ws, sock = open_ws(server)
    assert sock is not None
    await until(lambda: ws.sent[1:] == ["2"])  # the ping, from the new heap
    assert not sock.closed


async def test_handler_errors_are_logged_and_the_session_carries_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Failing(Recorder):
        def message_received(self, socket: EngineSocket, data: str | bytes) -> None:
            super().message_received(socket, data)
            raise RuntimeError("boom")

    handler = Failing()
    server = EngineServer(handler)
    sock = await handshake(server)
    with caplog.at_level(logging.ERROR, logger="tidings.engineio"):
        response = await server.handle_http(request("POST", b"4a\x1e4b", sid=sock.sid))
    assert response.status == 200
    assert [m for _, m in handler.messages] == ["a", "b"]
    assert sock.sid in server.sockets
    assert any(sock.sid in r.getMessage() for r in caplog.records)


async def test_bare_engine_callbacks() -> None:
    server = EngineServer(ping_interval=1)
    events: list[str] = []

    @server.on("connection")
    def connected(socket: EngineSocket) -> None:
        events.append("connection")

    server.on("message", lambda socket, data: socket.send(data))
    server.on("close", lambda socket, reason: events.append(reason))
    with pytest.raises(ValueError):
        server.on("nope", lambda: None)
    ws = RecordingWebSocket()
    listener = server.open_websocket(ws_request(), ws)
    listener.on_message("4ping")
    assert ws.sent[-1] == "4ping"
    next(iter(server.sockets.values())).close()
    assert events == ["connection", "forced close"]
    with pytest.raises(RuntimeError):
        EngineServer(Recorder()).on("message", lambda s, d: None)


async def test_broadcast_path_checks_the_buffer_limit() -> None:
    handler = Recorder(echo=False)
    server = EngineServer(handler, max_buffered_bytes=16_000)
    ws, sock = open_ws(server)
    assert sock is not None
    small = PreparedMessage(["x" * 100])
    ws.buffered = 20_000  # over the limit: found within a few small sends
    for _ in range(CHECK_EVERY + 1):
        if sock.closed:
            break
        sock.send_prepared(small)
    assert handler.closed == [(sock.sid, "transport error")]

    ws, sock = open_ws(server)
    assert sock is not None
    ws.buffered = 15_000
    sock.send_prepared(small)
    assert not sock.closed
    ws.buffered = 17_000
    sock.send_prepared(small)  # small sends are checked every CHECK_EVERY, not each time
    assert not sock.closed
    sock.send_prepared(PreparedMessage(["y" * 2_000]))  # over limit / CHECK_EVERY: checked now
    assert sock.closed
    assert handler.closed[-1] == (sock.sid, "transport error")
