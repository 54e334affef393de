"""The official client through nginx round-robin, three nodes behind it, no sticky sessions.

Every request a client makes goes to the next node in turn (the proxy keeps no
upstream connection), so with long-polling and with the upgrade a session lives
only because the nodes hand each request to the node that owns the session.
Which node answered is read from the proxy's ``X-Upstream`` header; which node
holds the session, from the handlers (``whoami``) and the session id's owner tag.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable

import pytest

from tests.e2e.harness import NodeClient

from .clients import MODES, WAIT, collect_news, connect, news, owner_of, requests_of
from .harness import NODE_NAMES, Deployment
from .nodeapp import TOKEN

pytestmark = pytest.mark.timeout(120)

StartClient = Callable[[], Awaitable[NodeClient]]


@pytest.fixture(params=list(MODES))
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.mark.parametrize("mode", ["polling", "upgrade"])
async def test_consecutive_requests_land_on_different_nodes(
    deployment: Deployment, start_client: StartClient, mode: str
) -> None:
    client: NodeClient = await start_client()
    socket, record = await connect(deployment, client, "a", mode, node="node2")
    # The session is held by the node its handshake reached, whatever node answers next.
    assert owner_of(record["engine"]) == "node2", record
    for i in range(8):
        assert await socket.call("echo", i, b"\x00\xff" * i) == [i, b"\x00\xff" * i]
        assert (await socket.emit_with_ack("whoami"))["node"] == "node2"

    nodes = requests_of(deployment, client, "a")
    # Polling: every emit and every answer is a request; upgrade: the handshake, the
    # first polls and the upgrade, then the WebSocket carries the rest.
    assert len(nodes) >= (10 if mode == "polling" else 3), nodes
    assert set(nodes) == set(NODE_NAMES), nodes
    repeats = [(i, a) for i, (a, b) in enumerate(itertools.pairwise(nodes)) if a == b]
    assert repeats == [], f"consecutive requests reached the same node: {nodes}"
    if mode == "upgrade":
        upgrades = [r for r in client.inbox.all("http") if r["status"] == 101]
        assert len(upgrades) == 1 and "transport=websocket" in upgrades[0]["path"], upgrades


async def test_websocket_clients_spread_over_the_nodes(
    deployment: Deployment, start_client: StartClient
) -> None:
    client: NodeClient = await start_client()
    seen = []
    for name in ("a", "b", "c"):
        socket, _ = await connect(deployment, client, name, "websocket")
        seen.append((await socket.emit_with_ack("whoami"))["node"])
        assert requests_of(deployment, client, name) == [seen[-1]]
    assert sorted(seen) == sorted(NODE_NAMES)


async def test_every_feature_through_the_proxy(
    deployment: Deployment, start_client: StartClient, mode: str
) -> None:
    client: NodeClient = await start_client()
    watcher, _ = await connect(deployment, client, "w", "websocket", node="node1", direct=True)
    assert await watcher.call("join", "watchers") == ["node1"]

    # One client held by each node.
    sockets = {}
    for name, node in (("a", "node1"), ("b", "node2"), ("c", "node3")):
        socket, record = await connect(deployment, client, name, mode, node=node)
        me = await socket.emit_with_ack("whoami")
        assert (me["node"], me["user"], me["sid"]) == (node, name, record["sid"])
        sockets[name] = socket
    a, b, c = sockets["a"], sockets["b"], sockets["c"]
    joined = watcher.received("joined")
    assert {(j[0]["sid"], j[0]["node"]) for j in joined} >= {
        (a.sid, "node1"), (b.sid, "node2"), (c.sid, "node3")
    }

    # Acks both ways, binary included.
    payload = {"text": "héllo", "blob": bytes(range(256))}
    assert await a.call("echo", payload, b"\x01\x02") == [payload, b"\x01\x02"]
    await b.reply("question", "value", {"from": "b"}, b"\x07")
    answer = await b.emit_with_ack("ask", "who are you?")
    assert answer == {"node": "node2", "answer": [{"from": "b"}, b"\x07"]}

    # Rooms across nodes: a (node1) and c (node3) in "r", b (node2) broadcasts there.
    assert await a.call("join", "r") == ["node1"]
    assert await c.call("join", "r") == ["node3"]
    for s in (a, b, c):
        await s.call("join", "all")
    assert await b.call("shout", "r", {"n": 1}, b"\xde\xad") == ["node2"]
    for s in (a, c):
        args = await s.event("news", WAIT)
        assert args[:2] == [{"n": 1}, b"\xde\xad"]
    await b.call("shout", "all", "to everyone")
    assert await collect_news(b, 1) == ["to everyone"]
    assert news(b) == ["to everyone"]  # not what went to "r"
    for s in (a, c):
        assert await collect_news(s, 1) == ["to everyone"]
        assert news(s) == [{"n": 1}, "to everyone"]

    # Leaving a room on another node.
    assert await c.call("leave", "r") == ["node3"]
    await a.call("shout", "r", "only a")
    assert await collect_news(a, 1) == ["only a"]
    await a.call("shout", "all", "after")
    assert await collect_news(c, 1) == ["after"]
    assert news(c) == [{"n": 1}, "to everyone", "after"]

    # Disconnects, both ways: each node sees its own.
    await a.disconnect()
    assert await a.disconnected(WAIT) == "io client disconnect"
    left = await watcher.event("left", WAIT)
    assert left[0] == {"sid": a.sid, "node": "node1", "reason": "client namespace disconnect"}
    await b.emit("bye")
    assert await b.disconnected(WAIT) == "io server disconnect"
    left = await watcher.event("left", WAIT)
    assert left[0] == {"sid": b.sid, "node": "node2", "reason": "server namespace disconnect"}
    # The one left carries on.
    assert await c.call("echo", "still here") == ["still here"]

    # Auth: refused with the node's reason, through the proxy.
    refused = client.socket(deployment.url, id="x", opts={**MODES[mode], "reconnection": False},
                            auth={"token": "wrong"})
    await refused.connect()
    error = await refused.connect_error(WAIT)
    assert error["message"] == "bad token"
    assert error["data"]["node"] in NODE_NAMES

    if mode != "websocket":
        # Each client's requests reached every node, whoever held its session (with
        # several clients at once, round-robin alternates between their requests).
        for name in ("a", "b", "c"):
            assert set(requests_of(deployment, client, name)) == set(NODE_NAMES), name


async def test_the_right_token_gets_in(deployment: Deployment, start_client: StartClient) -> None:
    """The test app itself: a client with the right token (and no user) is let in."""
    client: NodeClient = await start_client()
    socket, _ = await connect(deployment, client, "a", "websocket", auth={"token": TOKEN})
    assert (await socket.emit_with_ack("whoami"))["user"] is None
