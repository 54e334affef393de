"""The official client behind the proxy: connecting it to a chosen node, reading its requests."""

from __future__ import annotations

from typing import Any

from tests.e2e.harness import ClientSocket, NodeClient

from .harness import Deployment
from .nodeapp import TOKEN

#: The three ways the client may carry a session, as socket.io-client options.
MODES: dict[str, dict[str, Any]] = {
    "polling": {"transports": ["polling"]},
    "websocket": {"transports": ["websocket"]},
    "upgrade": {},  # polling first, then upgraded to WebSocket
}
#: Seconds for what crosses the cluster (a hand-off, a relay, a recovery).
WAIT = 10.0


def owner_of(engine_id: str) -> str | None:
    """The node tag of an Engine.IO session id (``node2.<token>``)."""
    owner, dot, _ = engine_id.partition(".")
    return owner if dot else None


async def connect(
    deployment: Deployment,
    client: NodeClient,
    name: str,
    mode: str,
    *,
    node: str | None = None,
    direct: bool = False,
    auth: Any = None,
) -> tuple[ClientSocket, dict[str, Any]]:
    """A socket named ``name`` through the proxy (its handshake steered to ``node`` when
    given), or straight to ``node`` with ``direct``; returns it and its connect record,
    after the upgrade in upgrade mode."""
    if direct:
        assert node is not None
        url = deployment.node(node).url
    else:
        url = deployment.url
        if node is not None:
            await deployment.proxy.steer(node, deployment.alive())
    opts = {**MODES[mode], "query": {"c": name}}
    socket = client.socket(
        url, id=name, opts=opts, auth=auth if auth is not None else {"token": TOKEN, "user": name}
    )
    await socket.connect()
    record = await socket.connected(WAIT)
    if mode == "upgrade":
        await client.expect("upgrade", WAIT, manager=name, transport="websocket")
    return socket, record


def requests_of(deployment: Deployment, client: NodeClient, name: str) -> list[str]:
    """The node the proxy sent each HTTP request of socket ``name`` to, in the order
    the requests were made."""
    records = sorted(
        (r for r in client.inbox.all("http") if f"c={name}&" in r["path"]), key=lambda r: r["seq"]
    )
    return [deployment.proxy.node_at(r["upstream"]) for r in records]


def news(socket: ClientSocket) -> list[Any]:
    """The payloads of every ``news`` event the socket got (the offset, the last
    argument under recovery, left out)."""
    return [args[0] for args in socket.received("news")]


async def collect_news(socket: ClientSocket, count: int) -> list[Any]:
    """Wait for ``count`` more ``news`` events; returns their payloads."""
    return [(await socket.event("news", WAIT))[0] for _ in range(count)]
