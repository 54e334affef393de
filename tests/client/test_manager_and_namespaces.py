"""The connection's own events (the JavaScript Manager's ``open``, ``close``, ``ping``)
and namespaces joined and left after ``connect()``, against the reference Node
socket.io 4.8 server and against tidings."""

from __future__ import annotations

from typing import Any

import pytest

from tidings.client import MANAGER_EVENTS, Client, ConnectError, DisconnectedError

from .conftest import ServerFactory
from .test_client import Inbox, quick_client


async def test_manager_open_ping_and_close(
    server_kind: str, make_server: ServerFactory, transports: tuple[str, ...]
) -> None:
    server = await make_server(server_kind, ping_interval=0.2, ping_timeout=5)
    inbox = Inbox()
    client = quick_client()
    client.on_manager("open", lambda: inbox.put("open"))
    client.on_manager("ping", lambda: inbox.put("ping"))
    client.on_manager("close", lambda reason, detail: inbox.put("close", reason))
    client.on_manager("reconnect", lambda n: inbox.put("reconnect", n))
    pings: list[Any] = []
    client.on("ping", pings.append)  # with ``on``, "ping" stays an application event
    await client.connect(server.url, transports=transports)
    try:
        assert await inbox.get() == ("open",)
        assert await inbox.get_kind("ping") == ("ping",)
        assert await inbox.get_kind("ping") == ("ping",)  # each heartbeat
        assert client.sid is not None
        await server.emit("ping", "app", sid=client.sid)
        await server.close_connection(client.sid)
        assert await inbox.get_kind("close") == ("close", "transport close")
        assert await inbox.get_kind("open") == ("open",)
        assert await inbox.get_kind("reconnect") == ("reconnect", 1)
        assert pings == ["app"]
    finally:
        await client.disconnect()
    assert await inbox.get_kind("close") == ("close", "forced close")


def test_on_manager_takes_only_manager_events() -> None:
    client = Client()
    assert {"open", "close", "ping", "reconnect_attempt"} <= MANAGER_EVENTS
    with pytest.raises(ValueError):
        client.on_manager("connect", print)


async def test_a_namespace_joined_and_left_after_connect(
    server_kind: str, make_server: ServerFactory, transports: tuple[str, ...]
) -> None:
    server = await make_server(server_kind)
    inbox = Inbox()
    client = Client(reconnection=False)
    client.on("connect", lambda: inbox.put("connect", "/admin"), namespace="/admin")
    client.on("disconnect", lambda r: inbox.put("disconnect", "/admin", r), namespace="/admin")
    await client.connect(server.url, namespaces="/", transports=transports)
    try:
        conn = (await server.records.get("connect", nsp="/", sid=client.sid))["conn"]
        await client.connect_namespace("/admin", auth={"token": "mine"})
        assert await inbox.get() == ("connect", "/admin")
        assert set(client.namespaces) == {"/", "/admin"}
        admin_sid = client.get_sid("/admin")
        record = await server.records.get("connect", nsp="/admin", sid=admin_sid)
        assert record["auth"] == {"token": "mine"} and record["conn"] == conn  # same connection
        assert await client.emit_with_ack("echo", "a", namespace="/admin") == "a"
        await client.connect_namespace("/admin")  # already there: nothing to do

        await client.disconnect_namespace("/admin")
        assert await inbox.get() == ("disconnect", "/admin", "io client disconnect")
        await server.records.get("disconnect", nsp="/admin", sid=admin_sid)
        assert client.connected and client.namespaces == ("/",)
        with pytest.raises(DisconnectedError):
            await client.emit("x", namespace="/admin")

        with pytest.raises(ConnectError) as refused:
            await client.connect_namespace("/admin", auth={"token": "bad"})
        assert refused.value.data == {"code": 403}
        assert client.connected  # a refusal leaves the other namespaces alone
        assert await client.emit_with_ack("echo", "root") == "root"

        await client.disconnect_namespace("/")  # the last one: the connection closes
        await client.wait()
        assert not client.connected
        await server.records.get("disconnect", nsp="/")
    finally:
        await client.disconnect()
    with pytest.raises(DisconnectedError):
        await client.connect_namespace("/admin")  # not connected


async def test_a_namespace_joined_while_reconnecting_comes_with_the_next_connection(
    server_kind: str, make_server: ServerFactory
) -> None:
    server = await make_server(server_kind)
    inbox = Inbox()
    client = quick_client(reconnection_delay=0.3, reconnection_delay_max=0.3)
    client.on("disconnect", lambda reason: inbox.put("disconnect", reason))
    await client.connect(server.url, transports=("websocket",))
    try:
        assert client.sid is not None
        await server.close_connection(client.sid)
        assert await inbox.get() == ("disconnect", "transport close")
        await client.connect_namespace("/admin")  # waits for the reconnection
        assert set(client.namespaces) == {"/", "/admin"}
        assert await client.emit_with_ack("echo", 1, namespace="/admin") == 1
    finally:
        await client.disconnect()

