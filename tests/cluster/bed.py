"""A test cluster: nodes on one Redis key prefix, and two official clients on each node.

Client ``n<i><g>`` is connected to node ``i`` and is in the rooms ``node-<i>``,
``group-<g>`` (g is ``a`` or ``b``) and ``client-n<i><g>``, besides its own id.
:meth:`Cluster.check_delivery` proves who got a broadcast and who did not: the
ones meant to get it are awaited, then a later broadcast (the sentinel) from the
same node is awaited at every client, since one connection keeps order.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from tests.e2e.harness import ClientSocket, NodeClient

from .harness import ClusterNode, until

CLIENT_OPTS = {"transports": ["websocket"], "reconnectionDelay": 100, "reconnectionDelayMax": 200}


class Origin(Protocol):
    """Whatever broadcasts in the tests: a node of either kind or an emitter."""

    name: str

    async def emit(self, event: str, *args: Any) -> None: ...


@dataclass
class Member:
    """One official client, connected to ``nodes[node]``."""

    name: str
    node: int
    group: str
    socket: ClientSocket
    extra_rooms: set[str] = field(default_factory=set)

    @property
    def sid(self) -> str:
        return self.socket.sid

    @property
    def app_rooms(self) -> list[str]:
        return [f"node-{self.node}", f"group-{self.group}", f"client-{self.name}"]

    @property
    def rooms(self) -> list[str]:
        return sorted({self.sid, *self.app_rooms, *self.extra_rooms})

    def describe(self) -> dict[str, Any]:
        """What any node's ``fetch_sockets`` should report for this client."""
        return {
            "id": self.sid,
            "rooms": self.rooms,
            "data": {"client": self.name},
            "auth": {"client": self.name},
            "query_eio": "4",
        }


class Cluster:
    def __init__(self, nodes: Sequence[ClusterNode], client: NodeClient) -> None:
        self.nodes = list(nodes)
        self.client = client
        self.members: list[Member] = []
        self._steps = itertools.count()

    def step(self, what: str) -> str:
        """A fresh event name, so that no step can see another step's messages."""
        return f"{what}-{next(self._steps)}"

    async def formed(self) -> None:
        """Every node counts every node: their subscriptions are all in place (also after
        Redis came back: a node may fail to count while it reconnects)."""
        want = len(self.nodes)
        for node in self.nodes:

            async def counted(node: ClusterNode = node) -> bool:
                try:
                    return await node.server_count() == want
                except Exception:
                    return False

            await until(counted, f"{node} counts {want} servers", timeout=10)

    async def connect_all(self, per_node: Iterable[str] = ("a", "b")) -> None:
        groups = list(per_node)
        for i, node in enumerate(self.nodes):
            for g in groups:
                name = f"n{i}{g}"
                socket = self.client.socket(node.url, id=name, opts=CLIENT_OPTS, auth={"client": name})
                self.members.append(Member(name, i, g, socket))
        for member in self.members:
            await self.join_rooms(member, connect=True)

    async def join_rooms(self, member: Member, connect: bool = False) -> None:
        """(Re)connect ``member`` and put it in its rooms; each join is acked by its node."""
        if connect:
            await member.socket.connect()
        else:
            await member.socket.reopen()
        await member.socket.connected()
        await self.nodes[member.node].events.get("connection", sid=member.sid)
        member.extra_rooms.clear()
        for room in member.app_rooms:
            assert await member.socket.call("join", room) == ["joined"]

    def member(self, name: str) -> Member:
        return next(m for m in self.members if m.name == name)

    def where(self, *, node: int | None = None, group: str | None = None) -> list[Member]:
        return [
            m
            for m in self.members
            if (node is None or m.node == node) and (group is None or m.group == group)
        ]

    def names(self, members: Iterable[Member]) -> list[str]:
        return sorted(m.name for m in members)

    async def sentinel(self, origin: Origin) -> None:
        """Broadcast a marker from ``origin`` to everyone and wait for it at every client:
        whatever ``origin`` broadcast before it has arrived by then, or never will."""
        event = self.step("sentinel")
        await origin.emit(event)
        for member in self.members:
            await member.socket.event(event)

    async def until_delivering(self, origin: Origin, timeout: float = 10.0) -> None:
        """Wait until a broadcast from ``origin`` reaches every client: after Redis came back,
        a node's stream reader may resume later than its subscriptions (a broadcast sent
        before then may be lost: at-most-once). Probes with fresh events until one arrives."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            event = self.step("probe")
            await origin.emit(event)
            try:
                for member in self.members:
                    await member.socket.event(event, timeout=1.0)
                return
            except AssertionError:
                if loop.time() > deadline:
                    raise

    async def check_delivery(
        self, origin: Origin, event: str, args: list[Any], recipients: Iterable[Member]
    ) -> None:
        """``event(*args)`` reached exactly ``recipients``, each once."""
        wanted = {m.name for m in recipients}
        for member in self.members:
            if member.name in wanted:
                assert await member.socket.event(event) == args, (origin, member.name)
        await self.sentinel(origin)
        got = {m.name: len(m.socket.received(event)) for m in self.members}
        assert got == {m.name: int(m.name in wanted) for m in self.members}, (origin, event)

    async def fetched(
        self, node: ClusterNode, rooms: Iterable[str] = (), except_: Iterable[str] = ()
    ) -> list[dict[str, Any]]:
        return await node.fetch_sockets(rooms, except_)

    def expected(self, members: Iterable[Member]) -> list[dict[str, Any]]:
        return sorted((m.describe() for m in members), key=lambda d: d["id"])

    async def until_fetched(
        self, node: ClusterNode, members: Iterable[Member], rooms: Iterable[str] = ()
    ) -> None:
        """Wait until ``node.fetch_sockets(rooms)`` reports exactly ``members`` as they
        are now (for changes applied by other nodes, which announce nothing)."""
        want = self.expected(members)
        rooms = list(rooms)

        async def matches() -> bool:
            return await node.fetch_sockets(rooms) == want

        await until(matches, f"{node}: fetch_sockets({rooms}) == {want}")
