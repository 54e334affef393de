"""Hand-off between servers of one loop (fd passing over unix sockets), behind a balancer
that sends every request of a session to another server than the last."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import MODES, NodeClient
from tidings.standalone import HandoffOptions, HttpServer, serve

from .app import make_app
from .proxy import RoundRobinProxy, balancing


@contextlib.asynccontextmanager
async def nodes(socket_dir: Path, count: int = 3) -> AsyncIterator[list[HttpServer]]:
    async with contextlib.AsyncExitStack() as stack:
        servers = []
        for i in range(count):
            owner = f"n{i}"
            handoff = HandoffOptions(owner=owner, socket_dir=str(socket_dir))
            servers.append(await stack.enter_async_context(serve(make_app(owner), handoff=handoff)))
        yield servers


def hopped(proxy: RoundRobinProxy, sid: str) -> list[int]:
    """The backends the session's requests went to, in order."""
    return [index for s, index, _ in proxy.log if s == sid]


@pytest.mark.parametrize("mode", list(MODES))
async def test_every_feature_through_a_round_robin_balancer(
    node: NodeClient, socket_dir: Path, mode: str
) -> None:
    async with nodes(socket_dir) as servers, balancing(
        [("127.0.0.1", s.port) for s in servers]
    ) as proxy:
        url = f"http://127.0.0.1:{proxy.port}"
        opts: dict[str, Any] = {**MODES[mode], "reconnection": False}
        a = node.socket(url, id="a", opts=opts)
        await a.connect()
        await a.connected()
        welcome = await a.event("welcome")
        owner = welcome[0]["node"]
        for _ in range(4):
            assert await a.call("where") == [owner]
        assert await a.call("echo", "hé", {"n": [1, 2]}, None) == ["hé", {"n": [1, 2]}, None]
        assert await a.call("reverse", b"\x00\x01\x02\xff") == [b"\xff\x02\x01\x00"]
        assert await a.call("join", "room1") == [["room1"]]
        await a.emit("tell", "room1", "to the room", b"\x07")
        assert await a.event("told") == ["to the room", b"\x07"]
        await a.emit("push", 20)
        for i in range(20):
            assert await a.event("pushed") == [i, bytes([i]) * 3]
        if mode == "upgrade":
            await node.expect("upgrade", manager="a", transport="websocket")
            assert await a.call("where") == [owner]
        engine_sids = {sid for sid, _, _ in proxy.log if sid is not None}
        if mode == "websocket":
            assert engine_sids == set()  # one connection from the handshake on: nothing to hand
        else:
            (sid,) = engine_sids
            assert sid.startswith(owner + ".")
            path = hopped(proxy, sid)
            assert all(x != y for x, y in itertools.pairwise(path)), path
            # The session's requests went to every node; its owner answered them all.
            assert len(set(path)) == len(servers)
        await a.disconnect()
        reason = await a.disconnected()
        assert reason == "io client disconnect"
