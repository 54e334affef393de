"""``bench/pacing.py`` against tidings on real loopback sockets: it joins both kinds of
namespace, recognises the CONNECT reply and the connect handler's emit, and sums up."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import tidings
import tidings.standalone
from bench.pacing import main, measure_once, summarize

pytestmark = pytest.mark.timeout(60)


def _server() -> tidings.Server:
    sio = tidings.Server()

    async def connect(socket: tidings.Socket, auth: Any) -> None:
        await socket.emit("auth", auth)

    sio.on("connect", connect)
    sio.of("/custom").on("connect", connect)
    return sio


async def test_measures_each_connection() -> None:
    async with tidings.standalone.serve(_server(), "127.0.0.1", 0) as server:
        for namespace in ("/", "/custom"):
            samples = [
                await asyncio.to_thread(
                    measure_once, "127.0.0.1", server.port, "/socket.io/", namespace
                )
                for _ in range(20)
            ]
            summary = summarize(namespace, samples)
            assert summary.connections == 20
            assert 0 <= summary.apart <= 20
            assert 0 <= summary.one_segment <= 20
            gaps = [s.gap_us for s in samples if s.gap_us is not None]
            assert all(gap > 0 for gap in gaps)
            if gaps:
                assert summary.gap_us_p50 is not None


async def test_a_namespace_without_an_emit_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    sio = tidings.Server()  # no connect handler: nothing follows the reply
    sio.of("/custom")
    async with tidings.standalone.serve(sio, "127.0.0.1", 0) as server:
        with pytest.raises(TimeoutError):
            await asyncio.to_thread(
                main,
                [f"http://127.0.0.1:{server.port}", "--connections", "1", "--namespace", "/"],
            )
