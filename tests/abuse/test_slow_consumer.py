"""Slow consumers: a client that stops reading while a room is flooded, under each
``slow_consumer`` policy. A healthy client in the same room gets everything; the stalled
one is disconnected ("disconnect"), or keeps a bounded backlog from which the oldest
events are dropped ("drop") or older values of an event replaced ("conflate"), and
once it reads again it gets what is left, in order, with nothing that awaits an ack lost."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest
import uvicorn

import tidings
from tests.abuse.raw_client import connect_websocket, frame, read_frame, read_text
from tests.threaded_http import ThreadedHttp
from tidings.standalone import serve

LIMIT = 256 * 1024
PAD = "x" * 1000
EVENT = re.compile(r"42(\d*)(\[.*)", re.DOTALL)


def make_server(policy: tidings.SlowConsumer) -> tuple[tidings.Server, list[Any]]:
    sio = tidings.Server(slow_consumer=policy, max_buffered_bytes=LIMIT)
    sockets: list[Any] = []

    @sio.on("connect")
    def connect(socket: Any, auth: Any) -> None:
        socket.join("room")
        sockets.append(socket)

    return sio, sockets


@contextlib.asynccontextmanager
async def hosted(sio: tidings.Server, host: str) -> AsyncIterator[int]:
    """``sio`` on the built-in server or under uvicorn (the ASGI app), in this loop: its port."""
    if host == "builtin":
        async with serve(sio, "127.0.0.1", 0) as server:
            yield server.port
        return
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    config = uvicorn.Config(tidings.ASGIApp(sio), log_level="warning", ws="websockets-sansio")
    server = uvicorn.Server(config)
    # Clients that connect before it accepts wait in the listening socket's backlog.
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        yield sock.getsockname()[1]
    finally:
        server.should_exit = server.force_exit = True
        await task


HOSTS = pytest.mark.parametrize("host", ["builtin", "uvicorn"])


async def flood(
    sio: tidings.Server, done: Callable[[], bool], watch: Any = None, events: tuple[str, ...] = ("tick",)
) -> tuple[int, int]:
    """Broadcast to the room until ``done()``, a few messages a turn; returns how many were
    sent and the most ``watch`` (a server-side socket) held meanwhile."""
    sent = peak = 0
    while not done():
        assert sent < 200_000, "the policy never acted"
        await sio.to("room").emit(events[sent % len(events)], sent, PAD)
        sent += 1
        if watch is not None:
            peak = max(peak, watch.conn.buffered_amount)
        if sent % 8 == 0:
            await asyncio.sleep(0)  # one loop turn: the flusher writes, readers read
    return sent, peak


async def read_all(reader: asyncio.StreamReader, into: list[tuple[str, int]], writer: Any = None) -> None:
    """Every event until "end"; acks what asks for one."""
    while True:
        opcode, payload = await read_frame(reader)
        if opcode == 8:
            raise ConnectionError("closed by the server")
        match = EVENT.fullmatch(payload.decode())
        if match is None:
            continue
        ack_id, data = match.groups()
        event, *args = json.loads(data)
        if ack_id and writer is not None:
            writer.write(frame(f"43{ack_id}[]"))
        if event == "end":
            return
        into.append((event, args[0]))


@dataclass
class Clients:
    """In the room: one client that stopped reading, one that reads everything."""

    stalled_reader: asyncio.StreamReader
    stalled: asyncio.StreamWriter
    healthy: list[tuple[str, int]]
    reading: asyncio.Task[None]

    async def end(self, sio: tidings.Server) -> None:
        """Broadcast "end" and wait for the healthy client to read it."""
        await sio.to("room").emit("end")
        await asyncio.wait_for(self.reading, 30)


@contextlib.asynccontextmanager
async def two_clients(port: int) -> AsyncIterator[Clients]:
    stalled_reader, stalled = await connect_websocket(port, slow=True)
    reader, writer = await connect_websocket(port)
    healthy: list[tuple[str, int]] = []
    try:
        yield Clients(stalled_reader, stalled, healthy, asyncio.create_task(read_all(reader, healthy)))
    finally:
        writer.close()
        stalled.close()


@HOSTS
async def test_disconnect_closes_the_stalled_client_alone(host: str) -> None:
    sio, _ = make_server("disconnect")
    async with hosted(sio, host) as port, two_clients(port) as clients:
        sent, _ = await flood(sio, lambda: sio.slow_consumers.disconnected > 0)
        await clients.end(sio)
        assert [i for _, i in clients.healthy] == list(range(sent))
        with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
            await asyncio.wait_for(read_all(clients.stalled_reader, []), 30)
        assert sio.slow_consumers.disconnected == 1
        assert sio.slow_consumers.dropped == 0
        assert len(sio.engine.sockets) == 1


@HOSTS
async def test_drop_keeps_the_stalled_client_with_the_newest_events(host: str) -> None:
    sio, sockets = make_server("drop")
    async with hosted(sio, host) as port, two_clients(port) as clients:
        stalled_socket = sockets[0]
        # Emits that await an ack are never dropped, wherever they fall in the backlog.
        asks = [asyncio.create_task(stalled_socket.emit_with_ack("ask", -1, timeout=60))]

        def done() -> bool:
            if sio.slow_consumers.dropped and len(asks) < 4:
                asks.append(asyncio.create_task(stalled_socket.emit_with_ack("ask", -len(asks) - 1, timeout=60)))
            return sio.slow_consumers.dropped >= 500

        sent, peak = await flood(sio, done, watch=stalled_socket)
        await clients.end(sio)
        assert [i for _, i in clients.healthy] == list(range(sent))
        # The stalled client reads at last: still connected, the newest events, in order.
        got: list[tuple[str, int]] = []
        await asyncio.wait_for(read_all(clients.stalled_reader, got, clients.stalled), 30)
        ticks = [i for event, i in got if event == "tick"]
        assert ticks == sorted(ticks) and ticks[-1] == sent - 1
        assert len(ticks) == sent - sio.slow_consumers.dropped
        assert sorted(i for event, i in got if event == "ask") == [-4, -3, -2, -1]
        await asyncio.wait_for(asyncio.gather(*asks), 30)  # each was answered
        assert peak <= LIMIT + 2 * len(PAD)
        assert sio.slow_consumers.disconnected == 0
        assert len(sio.engine.sockets) == 2


@HOSTS
async def test_conflate_keeps_the_latest_of_each_event(host: str) -> None:
    sio, sockets = make_server("conflate")
    async with hosted(sio, host) as port, two_clients(port) as clients:
        sent, peak = await flood(
            sio, lambda: sio.slow_consumers.conflated >= 1000, watch=sockets[0], events=("a", "b", "c")
        )
        await clients.end(sio)
        assert len(clients.healthy) == sent
        got: list[tuple[str, int]] = []
        await asyncio.wait_for(read_all(clients.stalled_reader, got, clients.stalled), 30)
        counts = sio.slow_consumers
        assert len(got) == sent - counts.conflated - counts.dropped
        assert [i for _, i in got] == sorted(i for _, i in got)
        # Only the latest of each event waited at the end: the last three sent arrive.
        assert got[-3:] == [(("a", "b", "c")[i % 3], i) for i in range(sent - 3, sent)]
        # Conflation keeps one message per event behind the transport: no more to drop.
        assert counts.dropped == 0 and counts.disconnected == 0
        assert peak <= LIMIT


@HOSTS
async def test_drop_on_a_polling_client_that_does_not_poll(host: str) -> None:
    sio, sockets = make_server("drop")
    async with hosted(sio, host) as port, ThreadedHttp() as http:
        url = f"http://127.0.0.1:{port}/socket.io/?EIO=4&transport=polling"
        opened = await http.get(url)
        url += "&sid=" + opened.text.split('"sid":"')[1].split('"')[0]
        assert (await http.post(url, content="40")).text == "ok"
        assert (await http.get(url)).text.startswith("40")
        sent, peak = await flood(sio, lambda: sio.slow_consumers.dropped >= 100, watch=sockets[0])
        await sio.to("room").emit("end")
        ticks: list[int] = []
        while True:  # it polls at last: the newest events, in order, then "end"
            body = (await asyncio.wait_for(http.get(url), 30)).text
            packets = [EVENT.fullmatch(p) for p in body.split("\x1e")]
            events = [json.loads(m.group(2)) for m in packets if m is not None]
            ticks += [e[1] for e in events if e[0] == "tick"]
            if any(e[0] == "end" for e in events):
                break
        assert ticks == sorted(ticks) and ticks[-1] == sent - 1
        assert len(ticks) == sent - sio.slow_consumers.dropped
        assert peak <= LIMIT + 2 * len(PAD)
        assert sio.slow_consumers.disconnected == 0


def test_policy_is_checked() -> None:
    with pytest.raises(ValueError, match="slow_consumer"):
        tidings.Server(slow_consumer="sometimes")  # type: ignore[arg-type]
    sio = tidings.Server(slow_consumer="drop")
    assert sio.of("/").slow_consumer == "drop"
    ticker = sio.of("/ticker")
    ticker.slow_consumer = "conflate"
    assert ticker.slow_consumer == "conflate" and sio.of("/").slow_consumer == "drop"
    with pytest.raises(ValueError, match="slow_consumer"):
        ticker.slow_consumer = "never"  # type: ignore[assignment]


async def test_a_backlog_held_for_polling_goes_out_over_the_upgrade() -> None:
    sio, sockets = make_server("drop")
    async with serve(sio, "127.0.0.1", 0) as server, ThreadedHttp() as http:
        url = f"http://127.0.0.1:{server.port}/socket.io/?EIO=4&transport=polling"
        sid = (await http.get(url)).text.split('"sid":"')[1].split('"')[0]
        url += "&sid=" + sid
        assert (await http.post(url, content="40")).text == "ok"
        assert (await http.get(url)).text.startswith("40")
        sent, _ = await flood(sio, lambda: sio.slow_consumers.dropped >= 10)
        # It upgrades at last: the probe, then "5"; what waited for it comes over the WebSocket.
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(
            f"GET /socket.io/?EIO=4&transport=websocket&sid={sid} HTTP/1.1\r\nHost: x\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        await reader.readuntil(b"\r\n\r\n")
        writer.write(frame("2probe"))
        assert await read_text(reader, "3") == "3probe"
        assert sockets[0].conn.buffered_amount > LIMIT // 2  # all of it still waits
        writer.write(frame("5"))
        await sio.to("room").emit("end")
        got: list[tuple[str, int]] = []
        await asyncio.wait_for(read_all(reader, got, writer), 30)
        ticks = [i for _, i in got]
        assert ticks == sorted(ticks) and ticks[-1] == sent - 1
        assert len(ticks) == sent - sio.slow_consumers.dropped
        assert sockets[0].conn.transport_name == "websocket"
        writer.close()
