"""``max_pending_events``: a socket with that many events waiting for its handlers stops
its connection's reading, which resumes at a quarter; no event is lost or reordered."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

import tidings
from tests.abuse.raw_client import connect_websocket, frame, read_text
from tests.threaded_http import ThreadedHttp
from tidings.standalone import serve


async def test_websocket_reading_pauses_and_resumes_in_order() -> None:
    sio = tidings.Server(max_pending_events=8)
    seen: list[int] = []
    held: list[bool] = []

    @sio.on("slow")
    async def slow(socket: Any, i: int) -> None:
        held.append(socket.conn.reading_held)
        await asyncio.sleep(0)
        seen.append(i)

    @sio.on("count")
    def count(socket: Any) -> int:
        return len(seen)

    async with serve(sio, "127.0.0.1", 0) as server:
        reader, writer = await connect_websocket(server.port)
        writer.write(b"".join(frame(f'42["slow",{i}]') for i in range(5000)) + frame('421["count"]'))
        # The ack comes after every earlier event ran: reading resumed each time it paused.
        assert await asyncio.wait_for(read_text(reader, "431"), 30) == "431[5000]"
        writer.close()
    assert seen == list(range(5000))
    assert any(held), "reading never paused"
    assert not held[-1]


async def held_polling_session(
    http: ThreadedHttp, port: int, gate: asyncio.Event, seen: list[int], sio: tidings.Server
) -> tuple[str, asyncio.Future[httpx.Response]]:
    """A polling session whose handlers are stuck on ``gate`` with its queue full, and a
    POST of one more event sent: (the session's url, that POST)."""
    started = asyncio.Event()

    @sio.on("slow")
    async def slow(socket: Any, i: int) -> None:
        started.set()
        await gate.wait()
        seen.append(i)

    url = f"http://127.0.0.1:{port}/socket.io/?EIO=4&transport=polling"
    opened = await http.get(url)
    url += "&sid=" + opened.text.split('"sid":"')[1].split('"')[0]
    assert (await http.post(url, content="40")).text == "ok"
    assert (await http.get(url)).text.startswith("40")
    batch = "\x1e".join(f'42["slow",{i}]' for i in range(20))
    assert (await http.post(url, content=batch)).text == "ok"  # read at once: the queue fills
    await started.wait()
    second = asyncio.ensure_future(http.post(url, content='42["slow",20]'))
    # Held: the second POST is not read, so not answered, while the handlers are stuck.
    done, _ = await asyncio.wait([second], timeout=0.3)
    assert not done
    return url, second


async def test_polling_post_is_answered_once_handlers_catch_up() -> None:
    sio = tidings.Server(max_pending_events=8)
    gate = asyncio.Event()
    seen: list[int] = []
    async with serve(sio, "127.0.0.1", 0) as server, ThreadedHttp() as http:
        sio.on("count", lambda socket: len(seen))
        url, second = await held_polling_session(http, server.port, gate, seen, sio)
        gate.set()
        assert (await second).text == "ok"
        assert (await http.post(url, content='421["count"]')).text == "ok"
        # The ack follows every earlier event's handler.
        assert (await http.get(url)).text == "431[21]"
    assert seen == list(range(21))


async def test_overlapping_post_while_held_closes_the_session() -> None:
    sio = tidings.Server(max_pending_events=8)
    gate = asyncio.Event()
    seen: list[int] = []
    async with serve(sio, "127.0.0.1", 0) as server, ThreadedHttp() as http:
        url, second = await held_polling_session(http, server.port, gate, seen, sio)
        overlap = await http.post(url, content='42["slow",21]')
        assert overlap.status_code == 400
        assert (await second).status_code == 400  # the session is gone: the waiting POST too
        assert (await http.get(url)).json()["message"] == "Session ID unknown"
        gate.set()


@pytest.mark.parametrize("value", [0, -1])
def test_max_pending_events_must_be_positive(value: int) -> None:
    with pytest.raises(ValueError, match="max_pending_events"):
        tidings.Server(max_pending_events=value)


@pytest.mark.parametrize("transport", ["polling", "websocket"])
async def test_session_that_never_joins_a_namespace_expires(transport: str) -> None:
    sio = tidings.Server(connect_timeout=0.3)
    loop = asyncio.get_running_loop()
    async with serve(sio, "127.0.0.1", 0) as server:
        start = loop.time()
        if transport == "polling":
            async with ThreadedHttp() as http:
                url = f"http://127.0.0.1:{server.port}/socket.io/?EIO=4&transport=polling"
                opened = await http.get(url)
                url += "&sid=" + opened.text.split('"sid":"')[1].split('"')[0]
                # Held until the server closes the session: then its CLOSE packet.
                assert (await asyncio.wait_for(http.get(url), 10)).text == "1"
        else:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\n"
                         b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
                         b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                         b"Sec-WebSocket-Version: 13\r\n\r\n")
            await reader.readuntil(b"\r\n\r\n")
            with pytest.raises(ConnectionError):
                await asyncio.wait_for(read_text(reader, "never"), 10)
            writer.close()
        elapsed = loop.time() - start
        # uvloop's clock counts milliseconds: a 0.3 s timer may fire at 0.2999... by ours
        assert 0.29 <= elapsed < 5
        assert not sio.engine.sockets
