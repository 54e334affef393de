"""How events go out: ``retries`` (at-least-once, as socket.io-client's), ``volatile``,
and the outgoing listeners. Each against the reference Node socket.io 4.8 server and
against tidings (whose handlers decline to ack with their keyword-only ``ack``)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tidings.client import AckTimeoutError, Client, DisconnectedError

from .servers import ServerHarness
from .test_client import Inbox, quick_client, wait_for_websocket


async def test_should_fail_when_the_server_does_not_acknowledge_the_packet(
    server: ServerHarness, transports: tuple[str, ...]
) -> None:
    """socket.io-client's test/retry.ts, with ``retries: 3, ackTimeout: 50``: the packet
    goes 4 times, each answered by the server with an "ack" event, then the emit fails."""
    client = Client(retries=3, ack_timeout=0.05, reconnection=False)
    count = 0
    sent: list[tuple[str, list[Any]]] = []

    @client.on("ack")
    def on_ack() -> None:
        nonlocal count
        count += 1

    client.on_any_outgoing(lambda event, args: sent.append((event, args)))
    await client.connect(server.url, transports=transports)
    try:
        with pytest.raises(AckTimeoutError):
            await client.emit_with_ack("ack")
        for _ in range(4):
            await server.records.get("event", event="ack", sid=client.sid)
        # The queue is free again, and nothing more of "ack" went out.
        assert await client.emit_with_ack("echo", "after") == "after"
        assert len(server.records.all("event", event="ack")) == 4
        assert count == 4  # the handler ran before the echo's ack: events run in order
        assert sent == [("ack", [])] * 4 + [("echo", ["after"])]
    finally:
        await client.disconnect()


async def test_should_preserve_the_order_of_the_packets(
    server: ServerHarness, transports: tuple[str, ...]
) -> None:
    """socket.io-client's other retry test: one packet in flight at a time, in order."""
    client = Client(retries=1, ack_timeout=5, reconnection=False)
    sent: list[Any] = []
    client.on_any_outgoing(lambda event, args: sent.append(args[0]))
    await client.connect(server.url, transports=transports)
    try:
        results = await asyncio.gather(*(client.emit_with_ack("echo", n) for n in (1, 2, 3)))
        assert results == [1, 2, 3]
        echoed = [r["args"][0] for r in server.records.all("event", event="echo")]
        assert echoed[-3:] == [1, 2, 3] and sent[-3:] == [1, 2, 3]
    finally:
        await client.disconnect()


async def test_a_retried_emit_is_delivered_at_least_once_and_acked_once(
    server: ServerHarness, transports: tuple[str, ...]
) -> None:
    client = Client(retries=3, ack_timeout=0.3, reconnection=False)
    await client.connect(server.url, transports=transports)
    try:
        # Declined on its first delivery, acked on the second.
        assert await client.emit_with_ack("flaky", "x") == 2
        assert len(server.records.all("event", event="flaky", sid=client.sid)) == 2
        # Acked late, after the next try went: that late ack is the answer (same ack id),
        # and the second delivery's ack finds nobody waiting.
        assert await client.emit_with_ack("slow", 500) == 3
        assert len(server.records.all("event", event="slow", sid=client.sid)) == 2
        assert await client.emit_with_ack("echo", "still in order") == "still in order"
    finally:
        await client.disconnect()


async def test_a_plain_emit_with_retries_asks_for_an_ack_and_is_retried(
    server: ServerHarness,
) -> None:
    client = Client(retries=2, ack_timeout=0.3, reconnection=False)
    await client.connect(server.url, transports=("websocket",))
    try:
        await client.emit("flaky", "fire and forget")  # returns at once, as socket.emit does
        for _ in range(2):
            await server.records.get("event", event="flaky", sid=client.sid)
        assert await client.emit_with_ack("echo", "after") == "after"  # queued behind it
    finally:
        await client.disconnect()


async def test_a_lost_connection_ends_a_try_and_the_next_goes_on_reconnection(
    server: ServerHarness, transports: tuple[str, ...]
) -> None:
    inbox = Inbox()
    client = quick_client(retries=1, ack_timeout=30)
    client.on("connect", lambda: inbox.put("connect"))
    client.on("disconnect", lambda reason: inbox.put("disconnect", reason))
    await client.connect(server.url, transports=transports)
    try:
        assert await inbox.get() == ("connect",)
        first_sid = client.sid
        assert first_sid is not None
        answer = asyncio.create_task(client.emit_with_ack("flaky", "across"))
        await server.records.get("event", event="flaky", sid=first_sid)  # declined
        await server.close_connection(first_sid)
        assert await inbox.get() == ("disconnect", "transport close")
        assert await inbox.get() == ("connect",)
        # Re-sent at once on the new connection (not after the 30 s ack_timeout); a new
        # socket on the server, whose first delivery is declined again: then the last try.
        await server.records.get("event", event="flaky", sid=client.sid)
        assert client.sid != first_sid
        assert not answer.done()
        await server.close_connection(client.sid)  # type: ignore[arg-type]
        assert await inbox.get() == ("disconnect", "transport close")
        assert await inbox.get() == ("connect",)
        with pytest.raises(DisconnectedError, match="no retry left"):
            await answer
    finally:
        await client.disconnect()


async def test_volatile_emits_are_dropped_while_disconnected(
    server: ServerHarness, transports: tuple[str, ...]
) -> None:
    sent: list[str] = []
    for retries in (0, 2):  # volatile emits skip the retry queue too
        inbox = Inbox()
        client = quick_client(retries=retries, reconnection_delay=0.3, reconnection_delay_max=0.3)
        client.on("connect", inbox.put_later("connect"))
        client.on("disconnect", inbox.put_later("disconnect"))
        client.on_any_outgoing(lambda event, args: sent.append(event))
        await client.connect(server.url, transports=transports)
        try:
            assert await inbox.get() == ("connect",)
            if "websocket" in transports:
                await wait_for_websocket(client)
            await client.emit("live", retries, volatile=True)
            record = await server.records.get("event", event="live", sid=client.sid)
            assert record["args"] == [retries] and not record.get("wants_ack")
            assert client.sid is not None
            await server.close_connection(client.sid)
            assert await inbox.get() == ("disconnect", "transport close")
            await client.emit("dropped", volatile=True)
            await client.emit("kept", retries)
            assert await inbox.get() == ("connect",)
            await server.records.get("event", event="kept", sid=client.sid)
            assert await client.emit_with_ack("echo", "sync") == "sync"
            assert server.records.all("event", event="dropped") == []
        finally:
            await client.disconnect()
    assert "dropped" not in sent and sent.count("kept") == 2 and sent.count("live") == 2


async def test_outgoing_listeners_see_what_is_written_per_namespace(
    server: ServerHarness,
) -> None:
    client = Client(reconnection=False)
    root: list[tuple[str, list[Any]]] = []
    admin: list[tuple[str, list[Any]]] = []
    done = asyncio.Event()

    async def on_admin(event: str, args: list[Any]) -> None:  # listeners may be coroutines
        admin.append((event, args))
        done.set()

    client.on_any_outgoing(lambda event, args: root.append((event, args)))
    client.on_any_outgoing(on_admin, namespace="/admin")
    await client.connect(server.url, namespaces=["/", "/admin"], transports=("websocket",))
    try:
        await client.emit("hello", b"\x01", {"a": [1]})
        assert await client.emit_with_ack("echo", 2, namespace="/admin") == 2
        async with asyncio.timeout(5):
            await done.wait()
        assert root == [("hello", [b"\x01", {"a": [1]}])]
        assert admin == [("echo", [2])]
    finally:
        await client.disconnect()
