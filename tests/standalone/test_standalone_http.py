from __future__ import annotations

import asyncio

import pytest

from tests.standalone.standalone_helpers import (
    RecordingEngine,
    assert_closed,
    connect,
    read_response,
    request,
)
from tidings.standalone import HttpOptions, HttpServer, serve


async def test_engine_request_fields(server: HttpServer, engine: RecordingEngine) -> None:
    raw = (
        b"POST /engine.io/a%20b/?EIO=4&transport=polling&sid=x%3D HTTP/1.1\r\n"
        b"Host: 127.0.0.1\r\nX-Multi: one\r\nx-multi: two\r\nContent-Length: 5\r\n\r\nhello"
    )
    response = await request(server.port, raw)
    assert response.status == 200
    assert response.body == b"POST /engine.io/a b/ EIO=4&transport=polling&sid=x%3D 5"
    req = engine.requests[0]
    assert req.method == "POST"
    assert req.path == "/engine.io/a b/"
    assert req.query == {"EIO": "4", "transport": "polling", "sid": "x="}
    assert req.headers["x-multi"] == "one, two"
    assert req.headers["host"] == "127.0.0.1"
    assert req.body == b"hello"
    assert req.client is not None and req.client[0] == "127.0.0.1"
    assert req.scheme == "http"


async def test_unknown_path_is_404(server: HttpServer, engine: RecordingEngine) -> None:
    response = await request(server.port, b"GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n")
    assert response.status == 404
    assert engine.requests == []


async def test_keep_alive_serves_several_requests(
    server: HttpServer, engine: RecordingEngine
) -> None:
    reader, writer = await connect(server.port)
    for i in range(3):
        writer.write(f"GET /engine.io/?n={i} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        response = await read_response(reader)
        assert response.status == 200
        assert "connection" not in response.headers
        assert response.body.endswith(f"n={i} 0".encode())
    assert len(engine.requests) == 3
    assert server.connection_count == 1
    writer.close()


async def test_pipelined_requests_answered_in_order(
    server: HttpServer, engine: RecordingEngine
) -> None:
    reader, writer = await connect(server.port)
    writer.write(
        b"GET /engine.io/?n=1&hold HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET /missing HTTP/1.1\r\nHost: x\r\n\r\n"
        b"POST /engine.io/?n=3 HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nab"
    )
    while not engine.requests:
        await asyncio.sleep(0)  # let the server parse; the held request blocks the rest
    assert len(engine.requests) == 1
    engine.release.set()
    first = await read_response(reader)
    second = await read_response(reader)
    third = await read_response(reader)
    assert first.body.endswith(b"n=1&hold 0")
    assert second.status == 404
    assert third.body == b"POST /engine.io/ n=3 2"
    writer.close()


async def test_connection_close_is_honoured(server: HttpServer) -> None:
    reader, writer = await connect(server.port)
    writer.write(b"GET /engine.io/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    response = await read_response(reader)
    assert response.status == 200
    assert response.headers["connection"] == "close"
    await assert_closed(reader)


async def test_http10_closes_after_response(server: HttpServer) -> None:
    reader, writer = await connect(server.port)
    writer.write(b"GET /engine.io/ HTTP/1.0\r\n\r\n")
    response = await read_response(reader)
    assert response.status == 200
    await assert_closed(reader)


async def test_body_over_limit_is_413_before_reading_it(
    server: HttpServer, engine: RecordingEngine
) -> None:
    reader, writer = await connect(server.port)
    writer.write(b"POST /engine.io/ HTTP/1.1\r\nHost: x\r\nContent-Length: 10001\r\n\r\n")
    response = await read_response(reader)
    assert response.status == 413
    await assert_closed(reader)
    assert engine.requests == []


async def test_chunked_body_over_limit_is_413(server: HttpServer, engine: RecordingEngine) -> None:
    reader, writer = await connect(server.port)
    chunk = b"1000\r\n" + b"x" * 4096 + b"\r\n"
    writer.write(
        b"POST /engine.io/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk * 3
    )
    response = await read_response(reader)
    assert response.status == 413
    await assert_closed(reader)
    assert engine.requests == []


async def test_chunked_body_within_limit(server: HttpServer, engine: RecordingEngine) -> None:
    response = await request(
        server.port,
        b"POST /engine.io/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
    )
    assert response.status == 200
    assert engine.requests[0].body == b"abcde"


async def test_too_many_headers_is_431(server: HttpServer) -> None:
    headers = b"".join(b"X-H%d: v\r\n" % i for i in range(101))
    reader, writer = await connect(server.port)
    writer.write(b"GET /engine.io/ HTTP/1.1\r\n" + headers + b"\r\n")
    assert (await read_response(reader)).status == 431
    await assert_closed(reader)


async def test_headers_too_large_is_431(server: HttpServer) -> None:
    reader, writer = await connect(server.port)
    writer.write(b"GET /engine.io/ HTTP/1.1\r\nX-Big: " + b"v" * 17000 + b"\r\n\r\n")
    assert (await read_response(reader)).status == 431
    await assert_closed(reader)


async def test_url_too_long_is_414(server: HttpServer) -> None:
    reader, writer = await connect(server.port)
    writer.write(b"GET /engine.io/?" + b"a" * 9000 + b" HTTP/1.1\r\n\r\n")
    assert (await read_response(reader)).status == 414
    await assert_closed(reader)


@pytest.mark.parametrize(
    "raw",
    [
        b"GARBAGE\r\n\r\n",
        b"GET / HTTP/9.9\r\n\r\n",
        b"GET /engine.io/ HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
        b"GET /engine.io/ HTTP/1.1\r\nBad Header\r\n\r\n",
    ],
)
async def test_malformed_requests_get_400_and_close(
    server: HttpServer, engine: RecordingEngine, raw: bytes
) -> None:
    reader, writer = await connect(server.port)
    writer.write(raw)
    assert (await read_response(reader)).status == 400
    await assert_closed(reader)
    assert engine.requests == []
    # the server carries on
    response = await request(server.port, b"GET /engine.io/ HTTP/1.1\r\nHost: x\r\n\r\n")
    assert response.status == 200


async def test_engine_error_is_500(server: HttpServer) -> None:
    reader, writer = await connect(server.port)
    writer.write(b"GET /engine.io/?fail HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (await read_response(reader)).status == 500
    await assert_closed(reader)


async def test_expect_100_continue(server: HttpServer, engine: RecordingEngine) -> None:
    reader, writer = await connect(server.port)
    writer.write(
        b"POST /engine.io/ HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n"
    )
    assert await reader.readuntil(b"\r\n\r\n") == b"HTTP/1.1 100 Continue\r\n\r\n"
    writer.write(b"abc")
    response = await read_response(reader)
    assert response.status == 200 and response.body.endswith(b" 3")
    writer.close()


@pytest.mark.parametrize("options", [HttpOptions(header_timeout=0.2)])
async def test_slow_headers_time_out_with_408(server: HttpServer, engine: RecordingEngine) -> None:
    reader, writer = await connect(server.port)
    writer.write(b"GET /engine.io/ HTTP/1.1\r\nHost: x\r\n")  # never finished
    response = await asyncio.wait_for(read_response(reader), 5)
    assert response.status == 408
    await assert_closed(reader)
    assert engine.requests == []


@pytest.mark.parametrize("options", [HttpOptions(body_timeout=0.2)])
async def test_slow_body_times_out(server: HttpServer, engine: RecordingEngine) -> None:
    reader, writer = await connect(server.port)
    writer.write(b"POST /engine.io/ HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
    response = await asyncio.wait_for(read_response(reader), 5)
    assert response.status == 408
    await assert_closed(reader)


@pytest.mark.parametrize("options", [HttpOptions(keep_alive_timeout=0.2)])
async def test_idle_keep_alive_connection_is_closed(server: HttpServer) -> None:
    reader, writer = await connect(server.port)
    writer.write(b"GET /engine.io/ HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (await read_response(reader)).status == 200
    await asyncio.wait_for(assert_closed(reader), 5)
    assert server.connection_count == 0 or await _wait_for_count(server, 0)


@pytest.mark.parametrize("options", [HttpOptions(keep_alive_timeout=0.2, header_timeout=0.8)])
async def test_a_later_deadline_outlives_the_earlier_timer(server: HttpServer) -> None:
    """The keep-alive timer (0.2 s) fires while a second request's headers arrive: the
    connection must then live to the header deadline (0.8 s), not die at the keep-alive's."""
    loop = asyncio.get_running_loop()
    reader, writer = await connect(server.port)
    writer.write(b"GET /engine.io/ HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (await read_response(reader)).status == 200
    writer.write(b"GET /engine.io/ HTTP/1.1\r\n")  # a request begins, and stalls
    started = loop.time()
    response = await asyncio.wait_for(read_response(reader), 5)
    assert response.status == 408
    assert loop.time() - started >= 0.6


async def _wait_for_count(server: HttpServer, n: int) -> bool:
    for _ in range(100):
        if server.connection_count == n:
            return True
        await asyncio.sleep(0.01)
    return False


@pytest.mark.parametrize("options", [HttpOptions(max_connections=1)])
async def test_connections_beyond_the_limit_are_dropped(server: HttpServer) -> None:
    reader1, writer1 = await connect(server.port)
    writer1.write(b"GET /engine.io/ HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (await read_response(reader1)).status == 200
    reader2, writer2 = await connect(server.port)
    writer2.write(b"GET /engine.io/ HTTP/1.1\r\nHost: x\r\n\r\n")
    await assert_closed(reader2)
    writer1.close()
    writer2.close()


async def test_graceful_close_answers_held_request(engine: RecordingEngine) -> None:
    async with serve(engine, "127.0.0.1", 0) as server:
        idle_reader, idle_writer = await connect(server.port)
        idle_writer.write(b"GET /engine.io/ HTTP/1.1\r\nHost: x\r\n\r\n")
        assert (await read_response(idle_reader)).status == 200
        reader, writer = await connect(server.port)
        writer.write(b"GET /engine.io/?hold HTTP/1.1\r\nHost: x\r\n\r\n")
        while len(engine.requests) < 2:
            await asyncio.sleep(0)
        await server.close(timeout=5)
        assert engine.shutdowns == [5]
        # the held poll was answered (the engine's shutdown released it), then closed
        response = await read_response(reader)
        assert response.status == 200 and response.headers["connection"] == "close"
        await assert_closed(reader)
        await assert_closed(idle_reader)
        with pytest.raises(OSError):
            await connect(server.port)
        assert server.connection_count == 0
        await server.wait_closed()
    assert engine.shutdowns == [5]  # leaving the block does not shut down twice


async def test_close_deadline_drops_stuck_requests() -> None:
    class Stuck(RecordingEngine):
        async def shutdown(self, timeout: float) -> None:
            self.shutdowns.append(timeout)  # does not release held requests

    engine = Stuck()
    async with serve(engine, "127.0.0.1", 0) as server:
        reader, writer = await connect(server.port)
        writer.write(b"GET /engine.io/?hold HTTP/1.1\r\nHost: x\r\n\r\n")
        while not engine.requests:
            await asyncio.sleep(0)
        loop = asyncio.get_running_loop()
        started = loop.time()
        await server.close(timeout=0.3)
        assert loop.time() - started < 2
        await assert_closed(reader)
        assert server.connection_count == 0
