"""The official client behind a balancer that sends every request of a session to another
server than the last: on one machine (fd passing over unix sockets) and across machines
(TCP relay to the address in the peer directory), in every transport mode."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import MODES, NodeClient

from .nodes import nodes, unique_prefix
from .proxy import RoundRobinProxy, balancing


def hopped(proxy: RoundRobinProxy, sid: str) -> list[int]:
    """The backends the session's requests went to, in order."""
    return [index for s, index, _ in proxy.log if s == sid]


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("setup", ["fd", "relay"])
async def test_every_feature_through_a_round_robin_balancer(
    node: NodeClient, socket_dir: Path, mode: str, setup: str
) -> None:
    where = {"socket_dir": socket_dir} if setup == "fd" else {"prefix": unique_prefix()}
    async with nodes(**where) as servers, balancing(
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


@pytest.mark.parametrize("mode", ["polling", "upgrade"])
@pytest.mark.parametrize("setup", ["fd", "relay"])
async def test_large_messages_cross_the_hand_off(
    node: NodeClient, socket_dir: Path, mode: str, setup: str
) -> None:
    """Bodies far larger than one read: most of each comes after the head, from the socket."""
    where = {"socket_dir": socket_dir} if setup == "fd" else {"prefix": unique_prefix()}
    big = bytes(range(256)) * 1500  # 384000 bytes; base64 in a polling body: about 512 kB
    async with nodes(count=2, **where) as servers, balancing(
        [("127.0.0.1", s.port) for s in servers]
    ) as proxy:
        url = f"http://127.0.0.1:{proxy.port}"
        a = node.socket(url, id="a", opts={**MODES[mode], "reconnection": False})
        await a.connect()
        await a.connected()
        for _ in range(3):
            assert await a.call("reverse", big) == [big[::-1]]
        assert await a.call("echo", "x" * 200_000) == ["x" * 200_000]
