"""Three nodes in processes of their own behind a round-robin balancer, on one machine
(fd passing) or as if on three (TCP relay through the peer directory in Redis).

Rooms span the nodes through a Redis adapter; the official client runs in all three
transport modes at once, and every request of a session lands on another node than the last.
"""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.e2e.harness import MODES, ClientSocket, NodeClient

from .nodes import (
    raw_exchange,
    read_response,
    request,
    status_and_body,
    unique_prefix,
    unknown_session,
    until,
)
from .processes import NodeProcess, node_processes
from .proxy import RoundRobinProxy, balancing

pytestmark = pytest.mark.timeout(120)

OWNERS = ["p0", "p1", "p2"]


def where_args(setup: str, socket_dir: Path) -> list[str]:
    if setup == "fd":
        return ["--socket-dir", str(socket_dir)]
    return ["--peers", unique_prefix()]


async def connect(node: NodeClient, url: str, name: str, **opts: Any) -> tuple[ClientSocket, str]:
    client = node.socket(url, id=name, opts={**MODES[name], **opts})
    await client.connect()
    await client.connected()
    (welcome,) = await client.event("welcome")
    return client, str(welcome["node"])


def no_repeats(proxy: RoundRobinProxy) -> dict[str, list[int]]:
    paths: dict[str, list[int]] = {}
    for sid, index, _ in proxy.log:
        if sid is not None:
            paths.setdefault(sid, []).append(index)
    for sid, path in paths.items():
        assert all(x != y for x, y in itertools.pairwise(path)), (sid, path)
    return paths


@pytest.mark.parametrize("setup", ["fd", "relay"])
async def test_three_nodes_every_mode(node: NodeClient, socket_dir: Path, setup: str) -> None:
    args = [*where_args(setup, socket_dir), "--rooms", unique_prefix()]
    async with node_processes(OWNERS, *args) as procs, balancing(
        [("127.0.0.1", p.port) for p in procs]
    ) as proxy:
        url = f"http://127.0.0.1:{proxy.port}"
        clients = {}
        for name in MODES:
            clients[name] = await connect(node, url, name, reconnection=False)
        for name, (client, owner) in clients.items():
            for _ in range(3):
                assert await client.call("where") == [owner], name
            assert await client.call("echo", name, {"x": [1]}) == [name, {"x": [1]}]
            assert await client.call("reverse", b"\x01\x02\x03") == [b"\x03\x02\x01"]
            assert await client.call("join", "all") == [["all"]]
        # A broadcast from one node reaches the room's members on every node.
        sender = clients["polling"][0]
        await sender.emit("tell", "all", "hello", b"\xff\x00")
        for client, _ in clients.values():
            assert await client.event("told") == ["hello", b"\xff\x00"]
        for client, _ in clients.values():
            await client.emit("push", 5)
            for i in range(5):
                assert await client.event("pushed") == [i, bytes([i]) * 3]
        # The upgrade's WebSocket, too, reached the owner (its probe on another node).
        await node.expect("upgrade", manager="upgrade", transport="websocket")
        assert await clients["upgrade"][0].call("where") == [clients["upgrade"][1]]
        paths = no_repeats(proxy)
        owners = {sid.partition(".")[0] for sid in paths}
        assert owners <= set(OWNERS)
        # The polling session's requests reached all three nodes.
        polling = next(s for s in paths if s.startswith(clients["polling"][1] + "."))
        assert len(set(paths[polling])) == 3


@pytest.mark.parametrize("setup", ["fd", "relay"])
async def test_owner_killed_clients_start_again_elsewhere(
    node: NodeClient, socket_dir: Path, setup: str
) -> None:
    async with node_processes(OWNERS, *where_args(setup, socket_dir)) as procs, balancing(
        [("127.0.0.1", p.port) for p in procs]
    ) as proxy:
        url = f"http://127.0.0.1:{proxy.port}"
        client, owner = await connect(node, url, "polling")
        victim: NodeProcess = next(p for p in procs if p.owner == owner)
        (sid,) = {s for s, _, _ in proxy.log if s is not None and s.startswith(owner + ".")}
        victim.kill()
        await victim.proc.wait()
        # The client's next request reaches a node that cannot reach the owner (or finds its
        # connection gone): the client starts a new session, owned by a node still alive.
        assert await client.disconnected(10) == "transport error"
        await client.connected(10)
        (welcome,) = await client.event("welcome", 10)
        assert welcome["node"] != owner
        assert await client.call("where") == [welcome["node"]]
        # Every survivor answers the dead owner's session as unknown, and says why once.
        survivors = [p for p in procs if p is not victim]
        for survivor in survivors:
            (response,) = await raw_exchange(survivor.port, request("GET", sid))
            assert unknown_session(response), response
        for survivor in survivors:
            await until(
                lambda s=survivor: bool(s.lines(f"owner {owner} unreachable")), "logged"
            )
            assert "answered as an unknown session" in survivor.lines(owner)[-1]


def established(port: int) -> set[str]:
    """The peers of the open TCP connections accepted on ``port`` (from /proc/net/tcp)."""
    peers = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port and fields[3] == "01":
            peers.add(fields[2])
    return peers


async def test_a_relayed_poll_whose_owner_dies_is_answered_as_unknown(socket_dir: Path) -> None:
    """The relaying node tells the client its session is gone (400, the protocol's answer),
    rather than closing in silence: a balancer would count that silence against it."""
    async with node_processes(OWNERS, *where_args("relay", socket_dir)) as procs:
        owner, relaying = procs[0], procs[1]
        (opened,) = await raw_exchange(owner.port, request("GET", "sid-less"))
        sid = orjson.loads(status_and_body(opened)[1][1:])["sid"]
        assert sid.startswith(owner.owner + ".")
        before = established(owner.port)
        reader, writer = await asyncio.open_connection("127.0.0.1", relaying.port)
        try:
            writer.write(request("GET", sid))  # held by the owner: nothing to send yet
            await writer.drain()
            # The relay's own connection to the owner is up: the poll waits there.
            await until(lambda: bool(established(owner.port) - before), "relayed")
            owner.kill()
            await owner.proc.wait()
            response = await asyncio.wait_for(read_response(reader), 10)
        finally:
            writer.close()
        assert unknown_session(response), response
