"""The test client is cheap enough for thousands of tests: connect, ack, disconnect."""

from __future__ import annotations

import time

import tidings
import tidings.testing


async def test_a_thousand_connect_ack_disconnect_cycles() -> None:
    sio = tidings.Server()

    @sio.event
    async def shout(socket: tidings.Socket, text: str) -> str:
        return text.upper()

    started = time.perf_counter()
    for n in range(1000):
        async with tidings.testing.connect(sio, auth={"token": "t"}) as client:
            assert await client.emit_with_ack("shout", f"hi {n}") == f"HI {n}"
    elapsed = time.perf_counter() - started
    # About 2 s on one core of a small machine, with the server's startup and shutdown
    # around each client; the bound leaves room for a busy one.
    assert elapsed < 20, f"1000 cycles took {elapsed:.1f}s"
    assert sio.engine.sockets == {}
