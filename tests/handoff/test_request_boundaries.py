"""Where each request starts, as the hand-off protocol tracks it beside the parser, for
random pipelines cut into random reads: a wrong start would hand the owner bytes that are
not a request, and its answers would not come back whole and in order. The connection
moves back and forth between the two servers as the requests' sessions say; what either
reads while a hand-off is under way goes with the connection."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest

from tidings.engine import EngineServer
from tidings.standalone import HandoffOptions, HttpServer, RedisPeerDirectory, serve

from .nodes import REDIS_URL, SHUTDOWN_TIMEOUT, read_response, status_and_body, unique_prefix


@contextlib.asynccontextmanager
async def engines(socket_dir: Path, setup: str) -> AsyncIterator[tuple[HttpServer, HttpServer]]:
    """Two bare Engine.IO servers (a message is only delivered, never a reason to close),
    passing connections to each other or relaying them."""
    prefix = unique_prefix()

    def options(owner: str) -> HandoffOptions:
        if setup == "fd":
            return HandoffOptions(owner, socket_dir=str(socket_dir))
        return HandoffOptions(owner, peers=RedisPeerDirectory(REDIS_URL, prefix))

    async with serve(EngineServer(), handoff=options("e0")) as e0, serve(
        EngineServer(), handoff=options("e1")
    ) as e1:
        try:
            yield e0, e1
        finally:  # the sessions' clients are gone: no second of grace for their polls
            await e1.close(SHUTDOWN_TIMEOUT)
            await e0.close(SHUTDOWN_TIMEOUT)


def message(sid: str, rng: random.Random) -> bytes:
    text = "4" + "x" * rng.choice([0, 1, 7, 300, 5000, 70_000])
    padding = "p" * rng.choice([0, 10, 2000])
    return (
        f"POST /engine.io/?EIO=4&transport=polling&sid={sid}&pad={padding} HTTP/1.1\r\n"
        f"Host: 127.0.0.1\r\nX-Pad: {padding}\r\nContent-Length: {len(text)}\r\n\r\n{text}"
    ).encode()


def not_found(rng: random.Random) -> bytes:
    return f"GET /nothing?{'q' * rng.choice([0, 500])} HTTP/1.1\r\nHost: x\r\n\r\n".encode()


@pytest.mark.parametrize("setup", ["fd", "relay"])
async def test_random_pipelines_in_random_reads(socket_dir: Path, setup: str) -> None:
    rng = random.Random(20261203)
    async with engines(socket_dir, setup) as (e0, e1):
        theirs, mine = await handshake_at(e0), await handshake_at(e1)
        for case in range(60):
            requests: list[tuple[bytes, tuple[int, bytes]]] = []
            for _ in range(rng.randint(1, 6)):
                kind = rng.choice(["mine", "theirs", "404"])
                if kind == "404":
                    requests.append((not_found(rng), (404, b"Not Found\n")))
                else:
                    sid = mine if kind == "mine" else theirs
                    requests.append((message(sid, rng), (200, b"ok")))
            data = b"".join(r for r, _ in requests)
            cuts = sorted(rng.sample(range(1, len(data)), min(len(data) - 1, rng.randint(0, 4))))
            reader, writer = await asyncio.open_connection("127.0.0.1", e1.port)
            try:
                for start, end in zip([0, *cuts], [*cuts, len(data)], strict=True):
                    writer.write(data[start:end])
                    await writer.drain()
                    if rng.random() < 0.5:
                        await asyncio.sleep(0)  # sometimes a read of its own
                for i, (_, expected) in enumerate(requests):
                    try:
                        response = await asyncio.wait_for(read_response(reader), 5)
                    except TimeoutError:
                        shown = [(r[:90], len(r)) for r, _ in requests]
                        raise AssertionError(f"case {case}: no answer {i} to {shown}, {cuts}")
                    assert status_and_body(response) == expected, (case, i, requests)
            finally:
                writer.close()


async def handshake_at(server: HttpServer) -> str:
    # A bare engine answers under /engine.io/: the helper speaks /socket.io/.
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(b"GET /engine.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n")
        status, body = status_and_body(await read_response(reader))
    finally:
        writer.close()
    assert status == 200
    return str(orjson.loads(body[1:])["sid"])
