"""Events, acks, binary and catch-all listeners, both ways, with the official client."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import tidings

from .harness import AckError, ClientSocket, Mailbox, NodeClient, serving


async def connected(node: NodeClient, url: str, opts: dict[str, Any], **kw: Any) -> ClientSocket:
    client = node.socket(url, opts=opts, **kw)
    await client.connect()
    await client.connected()
    return client


async def test_emit_both_ways(node: NodeClient, client_opts: dict[str, Any]) -> None:
    sio = tidings.Server()
    seen = Mailbox("server")

    @sio.on("connect")
    async def connect(socket: tidings.Socket, auth: Any) -> None:
        await socket.emit("welcome", "hello", 1, 2.5, True, None, {"nested": [1, {"deep": "x"}]})

    @sio.event
    async def chat(socket: tidings.Socket, *args: Any) -> None:
        seen.put("chat", sid=socket.id, args=list(args))

    async with serving(sio) as url:
        client = await connected(node, url, client_opts)
        assert await client.event("welcome") == [
            "hello",
            1,
            2.5,
            True,
            None,
            {"nested": [1, {"deep": "x"}]},
        ]
        await client.emit("chat", "hi", {"n": 1}, [1, 2, 3], "é ✓ 🎉")
        record = await seen.get("chat")
        assert record["args"] == ["hi", {"n": 1}, [1, 2, 3], "é ✓ 🎉"]
        await client.emit("chat")  # no arguments at all
        assert (await seen.get("chat"))["args"] == []


async def test_client_acks(node: NodeClient, client_opts: dict[str, Any]) -> None:
    sio = tidings.Server()

    @sio.event
    async def shout(socket: tidings.Socket, text: str) -> str:
        return text.upper()

    @sio.event
    async def pair(socket: tidings.Socket, a: int, b: int) -> tuple[int, int]:
        return b, a

    @sio.event
    def sync_handler(socket: tidings.Socket, n: int) -> int:
        return n + 1

    async with serving(sio) as url:
        client = await connected(node, url, client_opts)
        assert await client.call("shout", "hey") == ["HEY"]
        assert await client.call("pair", 1, 2) == [2, 1]
        assert await client.call("sync_handler", 41) == [42]
        assert await client.emit_with_ack("shout", "promise") == "PROMISE"
        assert await client.emit_with_ack("shout", "in time", timeout_ms=2000) == "IN TIME"
        assert await client.call("shout", "cb in time", timeout_ms=2000) == ["CB IN TIME"]


async def test_client_ack_timeout(node: NodeClient, client_opts: dict[str, Any]) -> None:
    sio = tidings.Server()
    release = asyncio.Event()

    @sio.event
    async def slow(socket: tidings.Socket) -> str:
        await release.wait()
        return "late"

    @sio.event
    async def fast(socket: tidings.Socket) -> str:
        return "fast"

    async with serving(sio) as url:
        client = await connected(node, url, client_opts)
        with pytest.raises(AckError, match="timed out"):
            await client.call("slow", timeout_ms=150)
        with pytest.raises(AckError, match="timed out"):
            await client.emit_with_ack("slow", timeout_ms=150)
        release.set()  # the late acks arrive and are dropped by the client
        assert await client.call("fast") == ["fast"]
        assert node.inbox.all("fail") == []


async def test_server_emit_with_ack(node: NodeClient, client_opts: dict[str, Any]) -> None:
    sio = tidings.Server()
    sockets: asyncio.Queue[tidings.Socket] = asyncio.Queue()

    @sio.on("connect")
    async def connect(socket: tidings.Socket, auth: Any) -> None:
        sockets.put_nowait(socket)

    async with serving(sio) as url:
        client = await connected(node, url, client_opts)
        socket = await sockets.get()
        # the client echoes by default: one argument comes back as the value...
        assert await socket.emit_with_ack("question", "one", timeout=5) == "one"
        # ...several as a tuple
        assert await socket.emit_with_ack("question", 1, {"two": 2}, timeout=5) == (1, {"two": 2})
        await client.reply("fixed", "value", "answer", 42)
        assert await socket.emit_with_ack("fixed", timeout=5) == ("answer", 42)
        await client.reply("ignored", "none")
        with pytest.raises(tidings.AckTimeoutError):
            await socket.emit_with_ack("ignored", timeout=0.2)
        # the event did arrive, asking for an ack
        assert node.inbox.all("event", id=client.id, event="ignored")[0]["wants_ack"] is True
        # a slow answer within the timeout is fine
        await client.reply("slow", "value", "done", delay_ms=100)
        assert await socket.emit_with_ack("slow", timeout=5) == "done"


async def test_binary_both_ways(node: NodeClient, client_opts: dict[str, Any]) -> None:
    sio = tidings.Server()
    seen = Mailbox("server")
    sockets: asyncio.Queue[tidings.Socket] = asyncio.Queue()
    blob = bytes(range(256)) * 4

    @sio.on("connect")
    async def connect(socket: tidings.Socket, auth: Any) -> None:
        sockets.put_nowait(socket)

    @sio.event
    async def upload(socket: tidings.Socket, meta: Any, raw: Any) -> Any:
        seen.put("upload", meta=meta, raw=raw)
        return {"size": len(raw), "head": raw[:3], "parts": [raw[-2:], "text"]}

    async with serving(sio) as url:
        client = await connected(node, url, client_opts)
        socket = await sockets.get()

        # client -> server, Buffers nested in objects, and a binary ack back
        meta = {"name": "f.bin", "chunks": [b"\x00\x01", {"inner": b"\xff"}], "n": 3}
        reply = await client.call("upload", meta, blob)
        record = await seen.get("upload")
        assert record["meta"] == meta
        assert record["raw"] == blob
        assert reply == [
            {"size": len(blob), "head": b"\x00\x01\x02", "parts": [b"\xfe\xff", "text"]}
        ]

        # server -> client
        await socket.emit("file", {"data": b"\x10\x20", "list": [b"", b"x" * 1000]}, b"tail")
        assert await client.event("file") == [
            {"data": b"\x10\x20", "list": [b"", b"x" * 1000]},
            b"tail",
        ]

        # server emit_with_ack carrying binary, answered with binary (the client echoes)
        echoed = await socket.emit_with_ack("echo-bin", {"b": b"\x01\x02\x03"}, b"\x04", timeout=5)
        assert echoed == ({"b": b"\x01\x02\x03"}, b"\x04")

        # binary through the promise API
        value = await client.emit_with_ack("upload", {"chunks": []}, b"abc")
        assert value["size"] == 3 and value["head"] == b"abc"


async def test_catch_all_listeners(node: NodeClient, client_opts: dict[str, Any]) -> None:
    sio = tidings.Server()
    seen = Mailbox("server")

    @sio.event
    async def known(socket: tidings.Socket, x: Any) -> str:
        seen.put("known", x=x)
        return "handled"

    @sio.on("*")
    async def anything(socket: tidings.Socket, event: str, *args: Any) -> str:
        seen.put("star", event=event, args=list(args))
        return f"star:{event}"

    @sio.on_any
    def listener(socket: tidings.Socket, event: str, args: list[Any]) -> None:
        seen.put("any", event=event, args=list(args))

    @sio.on_any_outgoing
    def outgoing(socket: tidings.Socket, event: str, args: Any) -> None:
        seen.put("out", event=event, args=list(args))

    @sio.event
    async def poke(socket: tidings.Socket) -> None:
        await socket.emit("poked", 1)
        await socket.emit("also", b"\x00")

    async with serving(sio) as url:
        client = await connected(node, url, client_opts)
        assert await client.call("known", 1) == ["handled"]
        assert await client.call("unknown", 2, "b") == ["star:unknown"]
        assert (await seen.get("star"))["args"] == [2, "b"]
        assert (await seen.get("known"))["x"] == 1
        assert (await seen.get("any", event="known"))["args"] == [1]
        assert (await seen.get("any", event="unknown"))["args"] == [2, "b"]
        assert seen.all("star", event="known") == []

        # the client's onAny sees every event the server sends, whatever its name
        await client.emit("poke")
        assert await client.event("poked") == [1]
        assert await client.event("also") == [b"\x00"]
        assert (await seen.get("out", event="poked"))["args"] == [1]
        assert (await seen.get("out", event="also"))["args"] == [b"\x00"]


async def test_one_clients_events_are_handled_in_order(
    node: NodeClient, client_opts: dict[str, Any]
) -> None:
    sio = tidings.Server()
    order: list[int] = []
    done = asyncio.Event()
    count = 200

    @sio.event
    async def seq(socket: tidings.Socket, i: int) -> None:
        for _ in range(i % 4):  # yield to the loop a varying number of times
            await asyncio.sleep(0)
        order.append(i)
        if len(order) == count:
            done.set()

    async with serving(sio) as url:
        client = await connected(node, url, client_opts)
        await client.emit_many("seq", count)
        await asyncio.wait_for(done.wait(), 10)
        assert order == list(range(count))
