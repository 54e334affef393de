"""Every cluster operation, started from every node and checked at every client.

Written once against :class:`~tests.cluster.harness.ClusterNode`; the test modules
choose the nodes (``kinds``) and the ``fmt`` fixture runs each format. Pub/sub is
at-most-once: what must not arrive is checked after a sentinel (see ``bed``).
"""

from __future__ import annotations

from typing import Any

import pytest

from .bed import Cluster, Member
from .emitters import ClusterEmitter
from .harness import ClusterAckTimeout, ClusterNode, until
from .redis_server import PrivateRedis

BINARY_ARGS: list[Any] = [b"\x00\x01\xfe\xff", {"nested": [b"\x02", "text"], "n": 1.5, "none": None}]


def other_nodes(cluster: Cluster, origin: ClusterNode) -> list[ClusterNode]:
    return [n for n in cluster.nodes if n is not origin]


class ClusterScenarios:
    """The scenarios; a subclass provides the ``kinds`` fixture (which nodes, in order)."""

    async def test_every_node_counts_every_node(self, cluster: Cluster) -> None:
        for node in cluster.nodes:
            assert await node.server_count() == len(cluster.nodes), node

    async def test_broadcasts_reach_exactly_their_targets(self, cluster: Cluster) -> None:
        members = cluster.members
        for o, origin in enumerate(cluster.nodes):
            far = next(m for m in members if m.node != o)
            near = next(m for m in members if m.node == o)
            last = len(cluster.nodes) - 1
            cases: list[tuple[dict[str, Any], list[Member]]] = [
                ({}, members),
                ({"rooms": ["group-a"]}, cluster.where(group="a")),
                ({"rooms": [f"node-{last - o}"]}, cluster.where(node=last - o)),
                ({"rooms": [f"node-{o}"]}, cluster.where(node=o)),
                (
                    {"rooms": ["group-a", "node-1"]},
                    [m for m in members if m.group == "a" or m.node == 1],
                ),
                ({"except_": ["group-b"]}, cluster.where(group="a")),
                (
                    {"rooms": ["group-a"], "except_": ["node-0"]},
                    [m for m in members if m.group == "a" and m.node != 0],
                ),
                ({"rooms": [far.sid]}, [far]),
                ({"rooms": [near.sid]}, [near]),
                ({"except_": [far.sid, near.sid]}, [m for m in members if m not in (far, near)]),
                ({"rooms": ["no-such-room"]}, []),
                ({"volatile": True}, members),
                # Sent as flags.compress = false: every node must still decode and deliver it.
                ({"compress": False}, members),
                ({"compress": False, "rooms": ["group-b"]}, cluster.where(group="b")),
                ({"local": True}, cluster.where(node=o)),
                ({"local": True, "rooms": ["group-b"]}, cluster.where(node=o, group="b")),
            ]
            for options, recipients in cases:
                event = cluster.step("bcast")
                args = [event, origin.name]
                await origin.emit(event, *args, **options)
                await cluster.check_delivery(origin, event, args, recipients)

    async def test_binary_payloads_cross_every_node(self, cluster: Cluster) -> None:
        for origin in cluster.nodes:
            for options, recipients in (
                ({}, cluster.members),
                ({"rooms": ["group-b"]}, cluster.where(group="b")),
            ):
                event = cluster.step("binary")
                await origin.emit(event, *BINARY_ARGS, **options)
                await cluster.check_delivery(origin, event, BINARY_ARGS, recipients)

    async def test_broadcast_with_acks_gets_one_reply_per_client(self, cluster: Cluster) -> None:
        for member in cluster.members:
            await member.socket.reply("*", "value", {"client": member.name, "bin": b"\x00\xff"})
        for o, origin in enumerate(cluster.nodes):
            for options, recipients in (
                ({}, cluster.members),
                ({"rooms": ["group-a"]}, cluster.where(group="a")),
                ({"rooms": [f"node-{len(cluster.nodes) - 1 - o}"]}, cluster.where(node=len(cluster.nodes) - 1 - o)),
                ({"except_": ["group-a", "node-0"]}, [m for m in cluster.members if m.group == "b" and m.node != 0]),
                ({"rooms": ["no-such-room"]}, []),
            ):
                event = cluster.step("ask")
                replies = await origin.emit_with_ack(event, event, **options)
                assert sorted(replies, key=lambda r: r["client"]) == [
                    {"client": m.name, "bin": b"\x00\xff"} for m in sorted(recipients, key=lambda m: m.name)
                ], (origin, options)
                for member in recipients:
                    assert await member.socket.event(event) == [event]

    async def test_broadcast_with_acks_times_out_with_the_replies_that_came(
        self, cluster: Cluster
    ) -> None:
        silent = cluster.members[-1]
        for member in cluster.members:
            await member.socket.reply("*", "value", member.name)
        await silent.socket.reply("*", "none")
        for origin in cluster.nodes:
            event = cluster.step("ask-silent")
            with pytest.raises(ClusterAckTimeout) as caught:
                await origin.emit_with_ack(event, timeout=1.0)
            assert sorted(caught.value.partial) == cluster.names(cluster.members[:-1]), origin

    async def test_fetch_sockets_reports_every_socket(self, cluster: Cluster) -> None:
        members = cluster.members
        for origin in cluster.nodes:
            assert await origin.fetch_sockets() == cluster.expected(members), origin
            assert await origin.fetch_sockets(["group-a"]) == cluster.expected(
                cluster.where(group="a")
            ), origin
            assert await origin.fetch_sockets(["node-1"], ["group-b"]) == cluster.expected(
                cluster.where(node=1, group="a")
            ), origin
            assert await origin.fetch_sockets(["no-such-room"]) == [], origin

    async def test_remote_socket_handles_act_on_their_socket(self, cluster: Cluster) -> None:
        for member in cluster.members:
            await member.socket.reply("*", "value", {"client": member.name})
        for origin in cluster.nodes:
            for target in cluster.members:
                assert await origin.fetch_sockets([f"client-{target.name}"]) == [target.describe()]

                event = cluster.step("remote-emit")
                await origin.remote_emit(target.sid, event, *BINARY_ARGS)
                await cluster.check_delivery(origin, event, BINARY_ARGS, [target])

                event = cluster.step("remote-ask")
                reply = await origin.remote_emit_with_ack(target.sid, event, "q", timeout=2.0)
                assert reply == {"client": target.name}, (origin, target.name)
                assert await target.socket.event(event) == ["q"]

                room = cluster.step("remote-room")
                await origin.remote_join(target.sid, room)
                target.extra_rooms.add(room)
                await cluster.until_fetched(origin, [target], [room])
                event = cluster.step("to-remote-room")
                await origin.emit(event, room, rooms=[room])
                await cluster.check_delivery(origin, event, [room], [target])

                await origin.remote_leave(target.sid, room)
                target.extra_rooms.discard(room)
                await cluster.until_fetched(origin, [], [room])
                assert await origin.fetch_sockets([f"client-{target.name}"]) == [target.describe()]

    async def test_remote_handle_emit_with_ack_times_out(self, cluster: Cluster) -> None:
        silent = cluster.members[-1]
        await silent.socket.reply("*", "none")
        for origin in cluster.nodes:
            assert len(await origin.fetch_sockets([silent.sid])) == 1
            with pytest.raises(ClusterAckTimeout):
                await origin.remote_emit_with_ack(silent.sid, cluster.step("never"), timeout=0.5)

    async def test_remote_handle_disconnects_its_socket(self, cluster: Cluster) -> None:
        for origin in cluster.nodes:
            for target in (cluster.where(node=len(cluster.nodes) - 1)[0], cluster.members[0]):
                assert len(await origin.fetch_sockets([target.sid])) == 1
                await origin.remote_disconnect(target.sid)
                assert await target.socket.disconnected() == "io server disconnect"
                others = [m for m in cluster.members if m is not target]
                await cluster.until_fetched(origin, others)
                await cluster.join_rooms(target)

    async def test_sockets_join_and_leave_across_nodes(self, cluster: Cluster) -> None:
        for o, origin in enumerate(cluster.nodes):
            room = cluster.step("joined-room")
            group_a = cluster.where(group="a")
            await origin.sockets_join(room, rooms=["group-a"])
            for m in group_a:
                m.extra_rooms.add(room)
            for node in cluster.nodes:
                await cluster.until_fetched(node, group_a, [room])
            event = cluster.step("to-joined")
            await origin.emit(event, rooms=[room])
            await cluster.check_delivery(origin, event, [], group_a)

            await origin.sockets_leave(room, rooms=[f"node-{o}"], except_=[])
            staying = [m for m in group_a if m.node != o]
            for m in group_a:
                if m.node == o:
                    m.extra_rooms.discard(room)
            for node in cluster.nodes:
                await cluster.until_fetched(node, staying, [room])
            event = cluster.step("to-left")
            await origin.emit(event, rooms=[room])
            await cluster.check_delivery(origin, event, [], staying)

            everyone = cluster.step("everyone")
            await origin.sockets_join(everyone)
            for m in cluster.members:
                m.extra_rooms.add(everyone)
            await cluster.until_fetched(origin, cluster.members, [everyone])

    async def test_disconnect_sockets_across_nodes(self, cluster: Cluster) -> None:
        for o, origin in enumerate(cluster.nodes):
            target_node = len(cluster.nodes) - 1 - o
            gone = cluster.where(node=target_node, group="b")
            before = {m.name: len(m.socket.node.inbox.all("disconnect", id=m.socket.id)) for m in cluster.members}
            await origin.disconnect_sockets(rooms=[f"node-{target_node}"], except_=["group-a"])
            for m in gone:
                assert await m.socket.disconnected() == "io server disconnect"
            staying = [m for m in cluster.members if m not in gone]
            await cluster.until_fetched(origin, staying)
            for m in staying:
                assert len(m.socket.node.inbox.all("disconnect", id=m.socket.id)) == before[m.name]
            for m in gone:
                await cluster.join_rooms(m)

    async def test_server_side_emit_reaches_every_other_node(self, cluster: Cluster) -> None:
        for origin in cluster.nodes:
            tag = cluster.step("note")
            await origin.server_side_emit("ss-note", tag, {"from": origin.name})
            others = other_nodes(cluster, origin)
            for node in others:
                record = await node.events.get("server_event", event="ss-note", args=[tag, {"from": origin.name}])
                assert record["wants_ack"] in (False, None)
            # A later note from another node has reached the origin: its own did not come back.
            marker = cluster.step("note-marker")
            await others[0].server_side_emit("ss-note", marker)
            await origin.events.get("server_event", event="ss-note", args=[marker])
            assert not [r for r in origin.events.all("server_event") if r["args"][:1] == [tag]]

    async def test_server_side_emit_with_ack_answers_from_every_other_node(
        self, cluster: Cluster, fmt: str
    ) -> None:
        for origin in cluster.nodes:
            tag = cluster.step("ask")
            # The classic format carries server-side events as JSON: no binary there.
            args: list[Any] = [tag] if fmt == "classic" else [tag, b"\x00\x01"]
            answers = await origin.server_side_emit_with_ack("ss-ask", *args, timeout=3.0)
            expected = [
                {"node": n.name, "args": args}
                for n in sorted(other_nodes(cluster, origin), key=lambda n: n.name)
            ]
            assert sorted(answers, key=lambda a: a["node"]) == expected, origin



class ClassicScenarios:
    """What only the classic format has; a subclass provides ``kinds`` and pins ``fmt``."""

    @pytest.fixture
    def fmt(self) -> str:
        return "classic"

    async def test_all_rooms_lists_every_nodes_rooms(self, cluster: Cluster) -> None:
        rooms = sorted({r for m in cluster.members for r in m.rooms})
        for origin in cluster.nodes:

            async def complete(origin: ClusterNode = origin) -> bool:
                return await origin.all_rooms() == rooms

            await until(complete, f"{origin}.all_rooms() == {rooms}")


class EmitterScenarios:
    """An emitter (not a server) driving a classic cluster; a subclass provides ``kinds``
    and ``emitter_kind``."""

    @pytest.fixture
    def fmt(self) -> str:
        return "classic"

    async def test_emitter_broadcasts(self, cluster: Cluster, emitter: ClusterEmitter) -> None:
        members = cluster.members
        for options, recipients in (
            ({}, members),
            ({"rooms": ["group-a"], "except_": ["node-0"]}, [m for m in members if m.group == "a" and m.node != 0]),
            ({"rooms": [members[-1].sid]}, [members[-1]]),
            ({"rooms": ["node-1", "group-b"]}, [m for m in members if m.node == 1 or m.group == "b"]),
        ):
            event = cluster.step("emitted")
            await emitter.emit(event, *BINARY_ARGS, **options)
            await cluster.check_delivery(emitter, event, BINARY_ARGS, recipients)

    async def test_emitter_joins_leaves_and_disconnects(
        self, cluster: Cluster, emitter: ClusterEmitter
    ) -> None:
        room = cluster.step("emitter-room")
        group_b = cluster.where(group="b")
        await emitter.sockets_join(room, rooms=["group-b"])
        for m in group_b:
            m.extra_rooms.add(room)
        for node in cluster.nodes:
            await cluster.until_fetched(node, group_b, [room])

        await emitter.sockets_leave(room, rooms=["node-1"])
        staying = [m for m in group_b if m.node != 1]
        for m in group_b:
            if m.node == 1:
                m.extra_rooms.discard(room)
        for node in cluster.nodes:
            await cluster.until_fetched(node, staying, [room])
        event = cluster.step("to-emitter-room")
        await emitter.emit(event, rooms=[room])
        await cluster.check_delivery(emitter, event, [], staying)

        gone = cluster.members[-1]
        await emitter.disconnect_sockets(rooms=[f"client-{gone.name}"])
        assert await gone.socket.disconnected() == "io server disconnect"
        for node in cluster.nodes:
            await cluster.until_fetched(node, [m for m in cluster.members if m is not gone])

    async def test_emitter_server_side_emit_reaches_every_node(
        self, cluster: Cluster, emitter: ClusterEmitter
    ) -> None:
        tag = cluster.step("emitter-note")
        await emitter.server_side_emit("ss-note", tag, {"n": 1})
        for node in cluster.nodes:
            await node.events.get("server_event", event="ss-note", args=[tag, {"n": 1}])


class RedisRestartScenarios:
    """The nodes run on a Redis of the test's own, which the test restarts; a subclass
    provides ``kinds``."""

    @pytest.fixture
    def cluster_redis_url(self, private_redis: PrivateRedis) -> str:
        return private_redis.url

    async def test_cluster_reforms_after_redis_restarts(
        self, cluster: Cluster, private_redis: PrivateRedis
    ) -> None:
        await private_redis.restart()
        # Counting needs each node's connections and subscriptions back.
        await cluster.formed()
        for origin in cluster.nodes:
            await cluster.until_delivering(origin)
            event = cluster.step("after-restart")
            await origin.emit(event, origin.name, rooms=["group-a"])
            await cluster.check_delivery(origin, event, [origin.name], cluster.where(group="a"))
        for origin in cluster.nodes:
            assert await origin.fetch_sockets() == cluster.expected(cluster.members), origin
