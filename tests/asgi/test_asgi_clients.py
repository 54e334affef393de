"""The official client through ``ASGIApp`` under uvicorn and granian, over every transport."""

from __future__ import annotations

from typing import Any

from tests.e2e.harness import ClientSocket, NodeClient

from .servers import RunningServer


async def connected(node: NodeClient, url: str, opts: dict[str, Any]) -> ClientSocket:
    client = node.socket(url, opts=opts)
    await client.connect()
    await client.connected()
    return client


async def test_transports(
    served: RunningServer, node: NodeClient, client_opts: dict[str, Any], mode: str
) -> None:
    client = node.socket(served.url, opts=client_opts)
    await client.connect()
    info = await client.connected()
    opened = await node.expect("open", manager=client.manager)
    assert opened["transport"] == ("websocket" if mode == "websocket" else "polling")
    if mode == "upgrade":
        upgraded = await node.expect("upgrade", manager=client.manager)
        assert upgraded["transport"] == "websocket"
    else:
        assert info["transport"] == opened["transport"]

    args = ["text é ✓", 42, {"nested": [1, None, True]}, b"\x00\x01binary\xff"]
    assert await client.call("echo", *args) == args
    big = "x" * 9_000  # under the app's 10 kB limit, over one TCP segment
    assert await client.call("echo", big) == [big]

    await client.disconnect()
    assert await client.disconnected() == "io client disconnect"


async def test_room_broadcast_reaches_every_transport(
    served: RunningServer, node: NodeClient
) -> None:
    opts = {"reconnection": False}
    members = [
        await connected(node, served.url, {**opts, "transports": ["websocket"]}),
        await connected(node, served.url, {**opts, "transports": ["polling"]}),
        await connected(node, served.url, opts),
    ]
    outsider = await connected(node, served.url, {**opts, "transports": ["websocket"]})
    for member in members:
        assert await member.call("join", "lobby") == ["lobby"]

    await members[0].emit("shout", "lobby", "hi all", b"\x01\x02")
    for member in members:
        assert await member.event("shouted") == ["hi all", b"\x01\x02"]
    # The outsider's channel is in order: its ack comes after anything sent to it before.
    assert await outsider.call("echo", "after") == ["after"]
    assert outsider.received("shouted") == []


async def test_many_messages_keep_their_order(served: RunningServer, node: NodeClient) -> None:
    for transports in (["websocket"], ["polling"]):
        client = await connected(node, served.url, {"transports": transports})
        await client.call("join", "counting")
        for i in range(50):
            await client.emit("shout", "counting", i)
        for i in range(50):
            assert await client.event("shouted") == [i]
        await client.disconnect()
