"""One TCP connection pipelines 10,100 polling handshakes (the 10,000-session cap's worth):
with the per-address bounds on, the attacker's address is refused 429 past them, and a
client from another address still connects, over polling and WebSocket, and gets fast acks."""

from __future__ import annotations

import asyncio
import statistics

import pytest

from tests.abuse.test_event_flood import canary, flood_server, run_canary

HANDSHAKES = 10_100
ATTACKER = "127.0.0.2"  # loopback too, but another address than the canary's 127.0.0.1


async def pipeline_handshakes(port: int) -> tuple[int, int]:
    """Send every handshake at once on one connection; (200s, 429s) answered."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(ATTACKER, 0))
    request = (f"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n")
    writer.write(request.encode() * HANDSHAKES)
    data = bytearray()
    while data.count(b"HTTP/1.1 ") < HANDSHAKES:
        chunk = await asyncio.wait_for(reader.read(1 << 16), 30)
        assert chunk, f"connection closed after {data.count(b'HTTP/1.1 ')} answers"
        data += chunk
    writer.close()
    return data.count(b"HTTP/1.1 200"), data.count(b"HTTP/1.1 429")


@pytest.mark.timeout(120)
@pytest.mark.parametrize("kind", ["builtin", "uvicorn"])
@pytest.mark.parametrize("transport", ["polling", "websocket"])
async def test_pipelined_handshakes_lock_no_one_out(kind: str, transport: str) -> None:
    options = ("max_sessions_per_address=100", "handshakes_per_second=20", "handshake_burst=50")
    async with flood_server(kind, 256, *options) as (_pid, port):
        ok, refused = await pipeline_handshakes(port)
        # The burst, plus 20 a second while it lasts, never more than the address's 100.
        assert 50 <= ok <= 100
        assert refused == HANDSHAKES - ok
        async with canary(port, 50, transport) as node:
            result = await run_canary(node)
    ms = sorted(result["ms"])
    p99 = ms[int(len(ms) * 0.99) - 1]
    print(f"\n{kind} {transport}: {ok} handshakes accepted, {refused} refused 429; canary "
          f"acks p50 {statistics.median(ms):.1f} ms, p99 {p99:.1f} ms")
    assert p99 < 50.0, ms
