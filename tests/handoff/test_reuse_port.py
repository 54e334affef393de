"""SO_REUSEPORT: processes (here two servers) listening on one port."""

from __future__ import annotations

from pathlib import Path

import pytest

import tidings
from tests.e2e.harness import MODES, NodeClient
from tidings.standalone import HandoffOptions, HttpServer

from .app import make_app
from .nodes import SHUTDOWN_TIMEOUT, handshake


async def test_two_servers_share_a_port() -> None:
    async with HttpServer(tidings.Server(), reuse_port=True) as first:
        second = HttpServer(tidings.Server(), port=first.port, reuse_port=True)
        async with second:
            assert second.port == first.port
            assert len(await handshake(first.port)) == 20
            # The session's client is gone: no second of grace for its poll.
            await second.close(SHUTDOWN_TIMEOUT)
            await first.close(SHUTDOWN_TIMEOUT)


async def test_without_it_the_port_is_taken() -> None:
    async with HttpServer(tidings.Server()) as first:
        with pytest.raises(OSError):
            await HttpServer(tidings.Server(), port=first.port).start()


async def test_processes_sharing_a_port_hand_requests_to_one_another(
    node: NodeClient, socket_dir: Path
) -> None:
    """As workers run: one port, the kernel spreads connections, the owner answers."""
    where = str(socket_dir)
    async with HttpServer(
        make_app("w0"), handoff=HandoffOptions("w0", socket_dir=where), reuse_port=True
    ) as w0, HttpServer(
        make_app("w1"),
        port=w0.port,
        handoff=HandoffOptions("w1", socket_dir=where),
        reuse_port=True,
    ):
        url = f"http://127.0.0.1:{w0.port}"
        clients = []
        for i in range(6):
            client = node.socket(url, id=f"c{i}", opts={**MODES["polling"], "reconnection": False})
            await client.connect()
            clients.append(client)
        for client in clients:
            await client.connected()
            (welcome,) = await client.event("welcome")
            for _ in range(3):
                assert await client.call("where") == [welcome["node"]]
