"""The official client comes back by itself after the server restarts on the same port."""

from __future__ import annotations

from typing import Any

import tidings

from .harness import Mailbox, NodeClient, serving


def make_server(generation: int, seen: Mailbox) -> tidings.Server:
    sio = tidings.Server()

    @sio.on("connect")
    async def connect(socket: tidings.Socket, auth: Any) -> None:
        seen.put("connect", generation=generation, sid=socket.id)
        await socket.emit("generation", generation)

    @sio.event
    def echo(socket: tidings.Socket, value: Any) -> Any:
        return value

    return sio


async def test_reconnects_after_server_restart(
    node: NodeClient, client_opts: dict[str, Any]
) -> None:
    seen = Mailbox("server")
    async with serving(make_server(1, seen)) as url:
        client = node.socket(url, opts=client_opts)
        await client.connect()
        first = await client.connected()
        assert await client.event("generation") == [1]
        await seen.get("connect", generation=1)
    # the server is gone: the client notices at once, not after a ping timeout
    assert await client.disconnected() in ("transport close", "transport error")

    port = int(url.rsplit(":", 1)[1])
    async with serving(make_server(2, seen), port) as url_again:
        assert url_again == url
        second = await client.connected(timeout=10)
        assert second["sid"] != first["sid"]
        assert await client.event("generation") == [2]
        assert (await node.expect("reconnect", manager=client.manager))["attempt"] >= 1
        assert await client.call("echo", {"back": True}) == [{"back": True}]
        await seen.get("connect", generation=2)
