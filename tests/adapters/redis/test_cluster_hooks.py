"""A socket's outgoing listeners hear of broadcasts from the other nodes too (Node's
``onAnyOutgoing`` does: a remote broadcast reaches its sockets through the same adapter)."""

from __future__ import annotations

from typing import Any

import tidings
from tests.e2e.harness import NodeClient

from .conftest import Cluster

WS = {"transports": ["websocket"]}


async def test_outgoing_listeners_see_remote_broadcasts(
    cluster: Cluster, node: NodeClient, wire_format: str
) -> None:
    heard: list[tuple[str, list[Any]]] = []

    def app(sio: tidings.Server) -> None:
        @sio.event
        def connect(socket: tidings.Socket, auth: Any) -> None:
            socket.on_any_outgoing(lambda socket, event, args: heard.append((event, args)))

    a = await cluster.start(wire_format)
    b = await cluster.start(wire_format, setup=app)
    client = node.socket(b.url, opts=WS)
    await client.connect()
    await client.connected()
    await a.sio.emit("remote", 1, b"\x02")
    assert await client.event("remote") == [1, b"\x02"]
    assert heard == [("remote", [1, b"\x02"])]
