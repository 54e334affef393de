"""Rate limits: token buckets per connection and per event; drop with an error ack, or
disconnect with a reason; one log line per connection however many packets it loses."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest

import tidings
from tests.abuse.raw_client import connect_websocket, frame, read_text
from tests.threaded_http import ThreadedHttp
from tidings.server.ratelimit import RateLimit, TokenBucket
from tidings.standalone import serve


def test_token_bucket_refills_with_the_time_it_is_told() -> None:
    bucket = TokenBucket(rate=2.0, capacity=3.0, now=100.0)
    assert [bucket.take(1, 100.0) for _ in range(4)] == [True, True, True, False]
    assert bucket.wait(1) == pytest.approx(0.5)
    assert bucket.take(1, 100.5)
    assert not bucket.take(1, 100.5)
    assert bucket.take(1, 200.0) and bucket.tokens == pytest.approx(2.0)  # capped at capacity


def test_byte_bucket_lets_one_big_message_through_then_owes_it() -> None:
    bucket = TokenBucket(rate=100.0, capacity=100.0, now=0.0)
    assert bucket.spend(250, 0.0)  # more than the burst, but the bucket was not in debt
    assert not bucket.spend(1, 1.0)  # -150 + 100: still owing
    assert bucket.spend(1, 2.6)


@pytest.mark.parametrize("kwargs", [{}, {"packets_per_second": 0}, {"bytes_per_second": -1},
                                    {"packets_per_second": 1, "on_limit": "ignore"}])
def test_rate_limit_is_validated(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        RateLimit(**kwargs)


def echo_server(**options: Any) -> tidings.Server:
    sio = tidings.Server(**options)
    sio.on("echo", lambda socket, value: value)
    sio.on("chat", lambda socket, value: value)
    return sio


async def acks(reader: asyncio.StreamReader, n: int) -> dict[int, Any]:
    """The next ``n`` acks, by id: their one argument."""
    found: dict[int, Any] = {}
    while len(found) < n:
        text = await asyncio.wait_for(read_text(reader, "43"), 10)
        bracket = text.index("[")
        found[int(text[2:bracket])] = json.loads(text[bracket:])[0]
    return found


async def test_connection_limit_drops_with_an_error_ack(caplog: pytest.LogCaptureFixture) -> None:
    # 1 packet a second, bursts of 10: the CONNECT takes one, 9 events pass.
    sio = echo_server(rate_limit=RateLimit(packets_per_second=1, burst=10))
    caplog.set_level(logging.INFO, "tidings.server")
    async with serve(sio, "127.0.0.1", 0) as server:
        reader, writer = await connect_websocket(server.port)
        writer.write(b"".join(frame(f'42{i}["echo",{i}]') for i in range(30)))
        got = await acks(reader, 30)
        writer.close()
    passed = [i for i, value in got.items() if value == i]
    dropped = [value for value in got.values() if isinstance(value, dict)]
    assert passed[:9] == list(range(9)) and len(passed) in (9, 10)  # 10: a slow second refilled
    assert len(passed) + len(dropped) == 30
    assert all(d["error"] == "rate limited" for d in dropped)
    # Each dropped packet is owed (up to one burst): the wait it is told grows with them.
    waits = [got[i]["retry_after"] for i in sorted(got) if isinstance(got[i], dict)]
    assert waits == sorted(waits) and 0 < waits[0] <= 2 and waits[-1] <= 11 + 1
    assert sio.rate_limited.dropped == len(dropped)
    lines = [r for r in caplog.records if "rate limit" in r.getMessage()]
    # One warning when it starts, one line with the count when the connection ends.
    assert len(lines) == 2, [r.getMessage() for r in lines]


async def test_a_flood_past_the_limit_is_not_read() -> None:
    """Dropping is not enough: a server that reads, decodes and drops a flood spends its
    time on the flooder. Past its limit a connection is not read until what it owes is
    paid (at most MAX_LIMIT_PAUSE), so TCP holds the rest of the flood back."""
    sio = echo_server(rate_limit=RateLimit(packets_per_second=2, burst=10))
    flood = 100_000
    async with serve(sio, "127.0.0.1", 0) as server:
        _reader, writer = await connect_websocket(server.port)
        writer.write(frame('42["echo",0]') * flood)
        deadline = asyncio.get_running_loop().time() + 10
        while sio.rate_limited.dropped == 0:  # the first read past the limit
            assert asyncio.get_running_loop().time() < deadline, "nothing was dropped"
            await asyncio.sleep(0.01)
        first_read = sio.rate_limited.dropped
        # Owing 10 packets at 2/s, the connection goes unread for 5 s; a server that kept
        # reading would have taken in the whole flood well within this second.
        await asyncio.sleep(1.0)
        assert sio.rate_limited.dropped == first_read < flood // 2
        writer.close()


async def test_connection_limit_disconnects_with_its_reason() -> None:
    sio = echo_server(rate_limit=RateLimit(packets_per_second=1, burst=5, on_limit="disconnect"))
    reasons: asyncio.Queue[str] = asyncio.Queue()
    sio.on("disconnect", lambda socket, reason: reasons.put_nowait(reason))
    async with serve(sio, "127.0.0.1", 0) as server:
        reader, writer = await connect_websocket(server.port)
        writer.write(b"".join(frame(f'42["echo",{i}]') for i in range(20)))
        assert await asyncio.wait_for(read_text(reader, "41"), 10) == "41"  # io server disconnect
        with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
            await asyncio.wait_for(read_text(reader, "never"), 10)
        writer.close()
        assert await asyncio.wait_for(reasons.get(), 10) == "rate limit exceeded"
    assert sio.rate_limited.disconnected == 1


async def test_event_limit_applies_to_that_event_only() -> None:
    sio = echo_server()
    sio.limit("chat", RateLimit(packets_per_second=1, burst=2))
    async with serve(sio, "127.0.0.1", 0) as server:
        reader, writer = await connect_websocket(server.port)
        writer.write(b"".join(frame(f'42{i}["chat",{i}]') for i in range(5)))
        writer.write(b"".join(frame(f'42{i}["echo",{i}]') for i in range(5, 10)))
        got = await acks(reader, 10)
        writer.close()
    assert [got[i] for i in range(2)] == [0, 1]
    assert all(got[i]["error"] == "rate limited" for i in range(2, 5))
    assert [got[i] for i in range(5, 10)] == [5, 6, 7, 8, 9]


async def test_byte_limit() -> None:
    sio = echo_server(rate_limit=RateLimit(bytes_per_second=10, byte_burst=1000))
    async with serve(sio, "127.0.0.1", 0) as server:
        reader, writer = await connect_websocket(server.port)
        big = "y" * 600
        writer.write(b"".join(frame(f'42{i}["echo","{big}"]') for i in range(3)))
        got = await acks(reader, 3)
        writer.close()
    # 1000 bytes of burst: the first two pass (the second into debt), the third is dropped.
    assert got[0] == big and got[1] == big
    assert got[2]["error"] == "rate limited" and got[2]["retry_after"] > 10


async def test_disconnect_over_polling_logs_one_line(caplog: pytest.LogCaptureFixture) -> None:

    sio = echo_server(rate_limit=RateLimit(packets_per_second=1, burst=3, on_limit="disconnect"))
    caplog.set_level(logging.INFO, "tidings")
    async with serve(sio, "127.0.0.1", 0) as server, ThreadedHttp() as http:
        url = f"http://127.0.0.1:{server.port}/socket.io/?EIO=4&transport=polling"
        opened = await http.get(url)
        url += "&sid=" + opened.text.split('"sid":"')[1].split('"')[0]
        assert (await http.post(url, content="40")).text == "ok"
        assert (await http.get(url)).text.startswith("40")
        await http.post(url, content="\x1e".join(f'42["echo",{i}]' for i in range(50)))
        assert "41" in (await http.get(url)).text.split("\x1e")
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "disconnecting" in warnings[0], warnings
    assert sio.rate_limited.disconnected == 1
