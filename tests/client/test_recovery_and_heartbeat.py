"""Connection state recovery (against the reference server and ours), and the heartbeat."""

from __future__ import annotations

import asyncio
from typing import Any

from tidings.client import Client

from .servers import NodeServer
from .test_client import Inbox, quick_client


async def test_connection_state_recovery(
    server_kind: str, make_server: Any, transports: tuple[str, ...]
) -> None:
    server = await make_server(server_kind, recovery=True)
    inbox = Inbox()
    client = quick_client(
        reconnection_delay=0.5, reconnection_delay_max=0.5, randomization_factor=0
    )
    client.on("news", lambda text: inbox.put("news", text))
    client.on_any(lambda event, args: inbox.put("any", event, args))
    client.on("disconnect", lambda reason: inbox.put("disconnect", reason))
    client.on("connect", lambda: inbox.put("connect"))
    await client.connect(server.url, auth={"token": "t"}, transports=transports)
    try:
        assert await inbox.get() == ("connect",)
        sid = client.sid
        first = await server.records.get("connect", sid=sid)
        assert first["recovered"] is False
        assert not client.recovered

        await server.emit("news", "a")  # a broadcast: the server appends its offset
        kind, event, args = await inbox.get()
        assert (kind, event) == ("any", "news")
        assert args[0] == "a" and isinstance(args[1], str)  # listeners see what was sent
        offset = args[1]
        assert await inbox.get() == ("news", "a")  # the handler does not

        assert sid is not None
        await server.close_connection(sid)
        kind, _reason = await inbox.get()
        assert kind == "disconnect"
        await server.records.get("disconnect", sid=sid)
        await server.emit("news", "missed")  # while the client is away
        assert await inbox.get_kind("connect") == ("connect",)

        assert client.recovered
        assert client.sid == sid  # the same session, restored
        second = await server.records.get("connect", sid=sid)
        assert second["recovered"] is True
        assert second["auth"]["token"] == "t"
        assert second["auth"]["offset"] == offset  # what socket.io-client sends back
        assert isinstance(second["auth"]["pid"], str)
        assert await inbox.get_kind("news") == ("news", "missed")
    finally:
        await client.disconnect()


async def test_pings_are_answered(
    server_kind: str, make_server: Any, transports: tuple[str, ...]
) -> None:
    # A client that never answered would be cut off 1.05 s in, well inside the 2 s below;
    # a 1 s timeout rides out a busy machine's stalls (the matrix runs three jobs at once).
    server = await make_server(server_kind, ping_interval=0.05, ping_timeout=1.0)
    reasons: list[str] = []
    client = Client()
    client.on("disconnect", reasons.append)
    await client.connect(server.url, transports=transports)
    try:
        loop = asyncio.get_running_loop()
        end = loop.time() + 2.0  # many ping intervals, each round trip awaited
        n = 0
        while loop.time() < end:
            n += 1
            assert await client.emit_with_ack("echo", n) == n
        assert client.connected
        assert reasons == []
        assert server.records.all("disconnect") == []
    finally:
        await client.disconnect()


async def test_ping_timeout_then_reconnect(make_server: Any, transports: tuple[str, ...]) -> None:
    server: NodeServer = await make_server(
        "node", ping_interval=0.1, ping_timeout=0.1, own_process=True  # pause() stops it
    )
    inbox = Inbox()
    client = quick_client(timeout=1.0)
    client.on("disconnect", lambda reason: inbox.put("disconnect", reason))
    client.on("reconnect", lambda n: inbox.put("reconnect"))
    await client.connect(server.url, transports=transports)
    try:
        server.pause()  # silent: no more pings
        try:
            assert await inbox.get() == ("disconnect", "ping timeout")
        finally:
            server.resume()
        assert await inbox.get_kind("reconnect") == ("reconnect",)
        assert await client.emit_with_ack("echo", "back") == "back"
    finally:
        await client.disconnect()
