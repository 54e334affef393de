"""Limits a plain route's connections get from the built-in server (issue 14): idle peers,
fragment floods, the connection cap."""

from __future__ import annotations

import asyncio
import logging

import pytest

from tests.protocol.websocket.wsclient import client_frame
from tests.standalone.standalone_helpers import WsClient, assert_closed, connect, parse_close
from tidings.protocol.websocket import Opcode
from tidings.standalone import HttpOptions, serve
from tidings.websocket_routes import WebSocket, WebSocketRoutes


@pytest.fixture
def routes() -> WebSocketRoutes:
    routes = WebSocketRoutes()

    @routes.route("/echo", max_message_size=16 * 1024 * 1024)
    async def echo(ws: WebSocket) -> None:
        async for message in ws:
            await ws.send(message)

    return routes


IDLE = HttpOptions(ws_idle_timeout=0.2, ws_close_timeout=0.2)


async def test_a_silent_peer_is_pinged_then_closed_with_1001(routes: WebSocketRoutes) -> None:
    async with serve(routes, "127.0.0.1", 0, options=IDLE) as server:
        ws, _ = await WsClient.open(server.port, "/echo")
        assert await ws.recv() == (Opcode.PING, b"")
        opcode, payload = await ws.recv()  # the ping is not answered
        assert opcode == Opcode.CLOSE
        assert parse_close(payload) == (1001, "idle timeout")
        ws.close()


async def test_a_peer_that_answers_the_ping_stays(routes: WebSocketRoutes) -> None:
    async with serve(routes, "127.0.0.1", 0, options=IDLE) as server:
        ws, _ = await WsClient.open(server.port, "/echo")
        for _ in range(2):  # idle, yet alive: pinged again, never closed
            assert await ws.recv() == (Opcode.PING, b"")
            ws.send(client_frame(Opcode.PONG, b""))
        ws.send_text("still here")
        assert await ws.recv_text() == "still here"
        ws.close()


async def test_a_message_in_too_many_fragments_closes_with_1008(routes: WebSocketRoutes) -> None:
    async with serve(routes, "127.0.0.1", 0, options=HttpOptions(ws_max_fragments=10)) as server:
        ws, _ = await WsClient.open(server.port, "/echo")
        frames = [client_frame(Opcode.BINARY, b"a", fin=False)]
        frames += [client_frame(Opcode.CONT, b"a", fin=False)] * 10  # the 11th is refused
        ws.send(b"".join(frames))
        opcode, payload = await ws.recv()
        assert opcode == Opcode.CLOSE
        assert parse_close(payload)[0] == 1008
        ws.close()


async def test_reaching_the_connection_cap_is_logged_once(
    routes: WebSocketRoutes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tidings.standalone")
    async with serve(routes, "127.0.0.1", 0, options=HttpOptions(max_connections=1)) as server:
        ws, _ = await WsClient.open(server.port, "/echo")
        for _ in range(3):
            reader, writer = await connect(server.port)
            await assert_closed(reader)
            writer.close()
        reached = [r for r in caplog.records if "connection cap reached" in r.message]
        assert len(reached) == 1 and reached[0].levelno == logging.INFO
        ws.close()
        while server.connection_count:
            await asyncio.sleep(0.01)  # the server notices the close on its own
        left = [r for r in caplog.records if "below the connection cap" in r.message]
        assert len(left) == 1 and "3 connections refused" in left[0].message
