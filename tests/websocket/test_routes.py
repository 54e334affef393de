"""Raw WebSocket routes on the built-in server, over loopback, driven by the ``websockets`` client."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator

import pytest
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Origin

from tests.protocol.websocket.wsclient import client_frame
from tests.standalone.standalone_helpers import (
    WsClient,
    parse_close,
    read_frame,
    request,
    upgrade_request,
)
from tidings.protocol.websocket import Opcode
from tidings.standalone import HttpServer, serve
from tidings.websocket_routes import WebSocket, WebSocketClosed, WebSocketRoutes


@pytest.fixture
def routes() -> WebSocketRoutes:
    routes = WebSocketRoutes()

    @routes.route("/echo", max_message_size=100_000)
    async def echo(ws: WebSocket) -> None:
        async for message in ws:
            await ws.send(message)

    return routes


@pytest.fixture
async def server(routes: WebSocketRoutes) -> AsyncIterator[HttpServer]:
    async with serve(routes, "127.0.0.1", 0) as srv:
        yield srv


def url(server: HttpServer, path: str = "/echo") -> str:
    return f"ws://127.0.0.1:{server.port}{path}"


async def test_text_and_binary_echo(server: HttpServer) -> None:
    async with websockets.connect(url(server)) as client:
        await client.send("héllo")
        assert await client.recv() == "héllo"
        await client.send(b"\x00\xff" * 1000)
        assert await client.recv() == b"\x00\xff" * 1000
        await client.send("")
        assert await client.recv() == ""
    assert client.close_code == 1000


async def test_fragmented_messages_arrive_whole(server: HttpServer) -> None:
    async with websockets.connect(url(server)) as client:
        await client.send(["frag", "men", "ted ✓"])
        assert await client.recv() == "fragmented ✓"
        await client.send([b"\x01", b"\x02\x03", b""])
        assert await client.recv() == b"\x01\x02\x03"


async def test_ping_between_fragments_is_answered_first(server: HttpServer) -> None:
    ws, _ = await WsClient.open(server.port, "/echo")
    ws.send(client_frame(Opcode.TEXT, b"ab", fin=False))
    ws.send(client_frame(Opcode.PING, b"p1"))
    ws.send(client_frame(Opcode.CONT, b"cd", fin=True))
    assert await ws.recv() == (Opcode.PONG, b"p1")
    assert await ws.recv() == (Opcode.TEXT, b"abcd")
    ws.close()


async def test_server_ping_returns_round_trip_time(routes: WebSocketRoutes) -> None:
    latencies: asyncio.Future[list[float]] = asyncio.get_running_loop().create_future()

    @routes.route("/ping")
    async def ping(ws: WebSocket) -> None:
        first = ws.ping(b"one")
        second = ws.ping()  # random payload
        latencies.set_result([await first, await second])
        await ws.send("pinged")
        await ws.receive()

    async with serve(routes, "127.0.0.1", 0) as srv, websockets.connect(url(srv, "/ping")) as c:
        assert await c.recv() == "pinged"
        result = await latencies
        assert all(0 <= t < 5 for t in result)


async def test_client_ping_gets_pong(server: HttpServer) -> None:
    async with websockets.connect(url(server)) as client:
        latency = await (await client.ping(b"are you there"))
        assert latency >= 0


async def test_client_close_code_and_reason_reach_the_handler(routes: WebSocketRoutes) -> None:
    seen: asyncio.Future[tuple[int | None, str, list[str | bytes]]] = (
        asyncio.get_running_loop().create_future()
    )

    @routes.route("/watch")
    async def watch(ws: WebSocket) -> None:
        received = [message async for message in ws]
        seen.set_result((ws.close_code, ws.close_reason, received))

    async with serve(routes, "127.0.0.1", 0) as srv:
        async with websockets.connect(url(srv, "/watch")) as client:
            await client.send("last words")
            await client.close(4000, "bye now")
        assert await seen == (4000, "bye now", ["last words"])


async def test_server_close_code_and_reason_reach_the_client(routes: WebSocketRoutes) -> None:
    done: asyncio.Future[tuple[int | None, str]] = asyncio.get_running_loop().create_future()

    @routes.route("/kick")
    async def kick(ws: WebSocket) -> None:
        await ws.close(4001, "you are done ✓")
        done.set_result((ws.close_code, ws.close_reason))
        with pytest.raises(WebSocketClosed):
            await ws.send("too late")
        with pytest.raises(WebSocketClosed):
            await ws.receive()

    async with serve(routes, "127.0.0.1", 0) as srv:
        async with websockets.connect(url(srv, "/kick")) as client:
            with pytest.raises(ConnectionClosed):
                await client.recv()
        assert client.close_code == 4001
        assert client.close_reason == "you are done ✓"
        assert await done == (4001, "you are done ✓")  # the client echoed our code


async def test_handler_return_closes_with_1000_and_error_with_1011(
    routes: WebSocketRoutes,
) -> None:
    @routes.route("/once")
    async def once(ws: WebSocket) -> None:
        await ws.send("only this")

    @routes.route("/bug")
    async def bug(ws: WebSocket) -> None:
        await ws.receive()
        raise RuntimeError("handler bug")

    async with serve(routes, "127.0.0.1", 0) as srv:
        async with websockets.connect(url(srv, "/once")) as client:
            assert await client.recv() == "only this"
            with pytest.raises(ConnectionClosed):
                await client.recv()
        assert client.close_code == 1000
        async with websockets.connect(url(srv, "/bug")) as client:
            await client.send("boom")
            with pytest.raises(ConnectionClosed):
                await client.recv()
        assert (client.close_code, client.close_reason) == (1011, "internal error")


@pytest.mark.parametrize("fragments", [1, 4])
async def test_oversize_message_closes_with_1009(server: HttpServer, fragments: int) -> None:
    async with websockets.connect(url(server), max_size=None) as client:
        await client.send("fits" * 25_000)  # exactly the route's 100_000
        assert len(await client.recv()) == 100_000
        big = b"x" * 100_001
        size = len(big) // fragments + 1
        await client.send([big[i : i + size] for i in range(0, len(big), size)])
        with pytest.raises(ConnectionClosed):
            await client.recv()
    assert client.close_code == 1009


async def test_invalid_utf8_closes_with_1007(server: HttpServer) -> None:
    ws, _ = await WsClient.open(server.port, "/echo")
    ws.send(client_frame(Opcode.TEXT, b"\xff\xfe"))
    opcode, fin, payload = await read_frame(ws.reader)
    assert (opcode, fin) == (Opcode.CLOSE, True)
    assert parse_close(payload)[0] == 1007
    ws.close()


async def test_large_message_with_write_back_pressure(routes: WebSocketRoutes) -> None:
    after_send: list[int] = []

    @routes.route("/flood", write_limit=65_536)
    async def flood(ws: WebSocket) -> None:
        for _ in range(32):
            await ws.send(b"y" * 1_000_000)
            after_send.append(ws.buffered_amount)
        await ws.close()

    async with serve(routes, "127.0.0.1", 0) as srv:
        async with websockets.connect(url(srv, "/flood"), max_size=None) as client:
            total = 0
            async for message in client:
                total += len(message)
        assert total == 32_000_000
        # send() returned only once the backlog was under the limit, never with 1 MB queued
        assert len(after_send) == 32
        assert max(after_send) <= 65_536


async def test_reading_pauses_while_the_handler_does_not_read(routes: WebSocketRoutes) -> None:
    go = asyncio.Event()

    @routes.route("/slow", max_queue=2)
    async def slow(ws: WebSocket) -> None:
        await go.wait()
        async for message in ws:
            await ws.send(message)

    async with (
        serve(routes, "127.0.0.1", 0) as srv,
        websockets.connect(url(srv, "/slow"), max_size=None) as client,
    ):
        chunk = b"z" * 1_000_000

        async def send_all() -> None:
            for i in range(64):
                await client.send(bytes([i]) + chunk)

        sender = asyncio.ensure_future(send_all())
        # The server stops reading after 2 queued messages: kernel buffers fill and the
        # client's send blocks (64 MB could not all be in flight otherwise).
        done, _ = await asyncio.wait([sender], timeout=0.5)
        assert not done
        (ws,) = routes.sockets
        assert len(ws._queue) <= 3  # max_queue, plus what one read completed
        go.set()
        for i in range(64):
            message = await client.recv()
            assert message[0] == i and len(message) == 1_000_001
        await sender


async def test_plain_requests_and_unknown_paths_are_not_routes(server: HttpServer) -> None:
    response = await request(server.port, b"GET /echo HTTP/1.1\r\nHost: x\r\n\r\n")
    assert response.status == 404  # a route claims upgrades only
    with pytest.raises(InvalidStatus) as info:
        async with websockets.connect(url(server, "/nowhere")):
            pass
    assert info.value.response.status_code == 404


async def test_origin_check(routes: WebSocketRoutes) -> None:
    @routes.route("/private", allowed_origins=["https://good.example"])
    async def private(ws: WebSocket) -> None:
        await ws.send("welcome")

    async with serve(routes, "127.0.0.1", 0) as srv:
        with pytest.raises(InvalidStatus) as info:
            async with websockets.connect(
                url(srv, "/private"), origin=Origin("https://evil.example")
            ):
                pass
        assert info.value.response.status_code == 403
        async with websockets.connect(
            url(srv, "/private"), origin=Origin("https://good.example")
        ) as client:
            assert await client.recv() == "welcome"


async def test_by_default_only_the_pages_own_origin(routes: WebSocketRoutes) -> None:
    """As on the Socket.IO path: another site's page cannot open the route with the user's
    cookies; the same origin and non-browsers (no Origin) can; ``"*"`` lets any site in."""

    @routes.route("/default")
    async def default(ws: WebSocket) -> None:
        await ws.send("welcome")

    @routes.route("/public", allowed_origins="*")
    async def public(ws: WebSocket) -> None:
        await ws.send("welcome")

    async with serve(routes, "127.0.0.1", 0) as srv:
        with pytest.raises(InvalidStatus) as info:
            async with websockets.connect(url(srv, "/default"), origin=Origin("https://evil.example")):
                pass
        assert info.value.response.status_code == 403
        own = Origin(f"http://127.0.0.1:{srv.port}")
        for origin in (own, None):
            async with websockets.connect(url(srv, "/default"), origin=origin) as client:
                assert await client.recv() == "welcome"
        async with websockets.connect(url(srv, "/public"), origin=Origin("https://evil.example")) as client:
            assert await client.recv() == "welcome"


async def test_upgrade_bytes_sent_with_the_request_are_not_lost(server: HttpServer) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(upgrade_request("/echo") + client_frame(Opcode.BINARY, b"early"))
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101 ")
    assert await read_frame(reader) == (Opcode.BINARY, True, b"early")
    writer.write(client_frame(Opcode.CLOSE, struct.pack("!H", 1000)))
    opcode, _, payload = await read_frame(reader)
    assert opcode == Opcode.CLOSE and parse_close(payload)[0] == 1000
    writer.close()


async def test_shutdown_closes_with_1001_and_waits_for_handlers(routes: WebSocketRoutes) -> None:
    finished = asyncio.Event()

    @routes.route("/stay")
    async def stay(ws: WebSocket) -> None:
        await ws.send("hi")
        async for _ in ws:
            pass
        finished.set()

    srv = await serve(routes, "127.0.0.1", 0).__aenter__()
    client = await websockets.connect(url(srv, "/stay"))
    assert await client.recv() == "hi"
    assert routes.sockets and routes.sockets[0].request.path == "/stay"
    await srv.close(timeout=5)
    assert finished.is_set()
    assert not routes.sockets
    with pytest.raises(ConnectionClosed):
        await client.recv()
    assert client.close_code == 1001
