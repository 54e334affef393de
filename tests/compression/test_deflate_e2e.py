"""permessage-deflate end to end: Node's ``ws`` and the official socket.io-client against
the built-in server. What leaves is read off the TCP socket by the Node side (RSV1 and
wire bytes per frame), what the server compresses is counted in this process."""

from __future__ import annotations

import asyncio
import json
import zlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

import tidings
import tidings.standalone
from tidings.protocol.websocket.deflate import DeflateOptions, PerMessageDeflate

SCRIPT = Path(__file__).resolve().parent / "node" / "deflate_client.mjs"
BIG = "".join(f"item {i}: some repetitive payload; " for i in range(70))[:2048]  # 2 KB


@pytest.fixture
def counts(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, int]]:
    """How often the server deflated and inflated a message body."""
    seen = {"compress": 0, "inflate": 0}
    compress, inflate = PerMessageDeflate.compress, PerMessageDeflate.inflate

    def counting_compress(self: PerMessageDeflate, payload: bytes) -> bytes:
        seen["compress"] += 1
        return compress(self, payload)

    def counting_inflate(self: PerMessageDeflate, chunk: bytes, limit: int) -> bytes:
        seen["inflate"] += 1
        return inflate(self, chunk, limit)

    monkeypatch.setattr(PerMessageDeflate, "compress", counting_compress)
    monkeypatch.setattr(PerMessageDeflate, "inflate", counting_inflate)
    yield seen


def build(deflate: DeflateOptions | bool, counts: dict[str, int], during: list[int]) -> tidings.Server:
    sio = tidings.Server(per_message_deflate=deflate)

    @sio.on("go")
    async def go(socket: tidings.Socket) -> None:
        before = counts["compress"]
        await sio.emit("big", BIG)  # a broadcast to every client
        during.append(counts["compress"] - before)
        await socket.compress(False).emit("plain", BIG)
        await socket.emit("small", "hi")
        await socket.emit("bigone", BIG)
        await sio.emit("end")

    @sio.on("echo")
    def echo(socket: tidings.Socket, data: str) -> str:
        return data

    return sio


@pytest.fixture
async def serve() -> AsyncIterator[Any]:
    servers: list[Any] = []

    async def start(sio: tidings.Server) -> str:
        cm = tidings.standalone.serve(sio, "127.0.0.1", 0)
        srv = await cm.__aenter__()
        servers.append(cm)
        return f"http://127.0.0.1:{srv.port}"

    yield start
    for cm in servers:
        await cm.__aexit__(None, None, None)


async def run_node(node_bin: str, *args: str) -> dict[str, Any]:
    proc = await asyncio.create_subprocess_exec(
        node_bin, str(SCRIPT), *args, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 20)
    result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    assert "error" not in result, result
    return result


def message_frames(client: dict[str, Any]) -> list[tuple[dict[str, Any], str]]:
    """Each data frame read off the socket with the message ``ws`` made of it (aligned from
    the end: the tap may start after the first frames)."""
    frames, messages = client["frames"], client["messages"]
    k = min(len(frames), len(messages))
    return list(zip(frames[len(frames) - k :], messages[len(messages) - k :], strict=True))


def by_event(client: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {json.loads(m[2:])[0]: f for f, m in message_frames(client) if m and m.startswith("42[")}


async def test_broadcast_compressed_once_for_no_context_takeover_clients(
    node_bin: str, serve: Any, counts: dict[str, int]
) -> None:
    during: list[int] = []
    url = await serve(build(True, counts, during))
    result = await run_node(node_bin, url, "raw", "4", "no")
    clients = result["clients"]
    assert len(clients) == 4
    # One compression for the 2 KB broadcast to four deflate clients.
    assert during == [1]
    expected = '42["big",' + json.dumps(BIG) + "]"
    wire = set()
    for client in clients:
        assert client["extensions"] == "permessage-deflate; server_no_context_takeover"
        big = by_event(client)["big"]
        assert big["rsv1"] is True
        assert big["len"] < len(expected) // 2
        # Inflatable on its own (no context) and what ws delivered.
        body = bytes.fromhex(big["hex"])
        assert zlib.decompressobj(-15).decompress(body + b"\x00\x00\xff\xff").decode() == expected
        assert expected in client["messages"]
        wire.add(big["hex"])
    assert len(wire) == 1  # the very same bytes for everyone
    sender = by_event(clients[0])
    assert sender["plain"]["rsv1"] is False and sender["plain"]["len"] == len(
        '42["plain",' + json.dumps(BIG) + "]"
    )
    assert sender["small"]["rsv1"] is False  # under the 1,024-byte threshold
    assert sender["bigone"]["rsv1"] is True
    assert '42["plain",' + json.dumps(BIG) + "]" in clients[0]["messages"]


async def test_context_takeover_clients_compressed_per_connection(
    node_bin: str, serve: Any, counts: dict[str, int]
) -> None:
    during: list[int] = []
    url = await serve(build(True, counts, during))
    result = await run_node(node_bin, url, "raw", "3", "yes")
    assert during == [3]  # each connection's own deflate stream
    expected = '42["big",' + json.dumps(BIG) + "]"
    for client in result["clients"]:
        assert client["extensions"] == "permessage-deflate"
        events = by_event(client)
        assert events["big"]["rsv1"] is True
        assert expected in client["messages"]
    sender = by_event(result["clients"][0])
    assert sender["plain"]["rsv1"] is False
    # Same content again: with context takeover it is a back-reference, far smaller.
    assert sender["bigone"]["rsv1"] is True
    assert sender["bigone"]["len"] < sender["big"]["len"] // 2


async def test_off_by_default_no_extension_no_rsv1(
    node_bin: str, serve: Any, counts: dict[str, int]
) -> None:
    during: list[int] = []
    url = await serve(build(False, counts, during))
    result = await run_node(node_bin, url, "raw", "2", "no")
    for client in result["clients"]:
        assert client["extensions"] is None
        assert all(not f["rsv1"] for f in client["frames"])
        assert '42["big",' + json.dumps(BIG) + "]" in client["messages"]
    assert counts == {"compress": 0, "inflate": 0}


@pytest.mark.parametrize("size", [100, 20_000, 300_000])
async def test_official_client_round_trip(
    node_bin: str, serve: Any, counts: dict[str, int], size: int
) -> None:
    url = await serve(build(DeflateOptions(), counts, []))
    result = await run_node(node_bin, url, "sio", str(size))
    assert result == {"same": True, "length": size}
    if size >= 1024:  # the client compresses from its threshold on, and so do we
        assert counts["inflate"] >= 1 and counts["compress"] >= 1
    else:
        assert counts == {"compress": 0, "inflate": 0}
