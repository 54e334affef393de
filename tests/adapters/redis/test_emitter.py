"""The emitter against the machine's Redis: what it publishes, byte for byte, is what
@socket.io/redis-emitter 5.1 publishes, and every node's classic codec reads it."""

from __future__ import annotations

import asyncio
import secrets
import socket
from collections.abc import AsyncIterator
from typing import Any

import msgpack
import pytest
import redis.asyncio as aioredis

import tidings
from tidings.adapters.redis.classic import ClassicFormat
from tidings.adapters.redis.messages import (
    Broadcast,
    DisconnectSockets,
    ServerSideEmit,
    SocketsJoin,
    SocketsLeave,
    Target,
)
from tidings.emitter import Emitter
from tidings.errors import ClusterError

REDIS_URL = "redis://127.0.0.1:6379/0"


async def _redis_available() -> bool:
    try:
        client = aioredis.Redis.from_url(REDIS_URL)
        try:
            return bool(await client.ping())
        finally:
            await client.aclose()
    except OSError:
        return False


class Listener:
    """A subscriber on every classic channel of a prefix: what a node would receive."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.client = aioredis.Redis.from_url(REDIS_URL)
        self.pubsub = self.client.pubsub()

    async def start(self) -> None:
        await self.pubsub.psubscribe(f"{self.prefix}#*")
        await self.pubsub.psubscribe(f"{self.prefix}-request#*")
        # Two confirmations to read, so the subscriptions are live before anything is sent.
        for _ in range(2):
            await self.pubsub.get_message(timeout=5.0)

    async def next(self) -> tuple[str, bytes]:
        async with asyncio.timeout(5.0):
            while True:
                message = await self.pubsub.get_message(ignore_subscribe_messages=True, timeout=5.0)
                if message is not None:
                    return message["channel"].decode(), message["data"]

    async def stop(self) -> None:
        await self.pubsub.aclose()
        await self.client.aclose()


@pytest.fixture
async def prefix() -> str:
    # Redis is part of the test set-up: its absence is a failure, never a skip.
    assert await _redis_available(), "no Redis at 127.0.0.1:6379"
    return f"t-{secrets.token_hex(6)}"


@pytest.fixture
async def listener(prefix: str) -> AsyncIterator[Listener]:
    listener = Listener(prefix)
    await listener.start()
    yield listener
    await listener.stop()


@pytest.fixture
async def emitter(prefix: str) -> AsyncIterator[Emitter]:
    async with tidings.Emitter(REDIS_URL, key_prefix=prefix) as emitter:
        yield emitter


def node_emitter_broadcast(data: list[Any], rooms: list[Any], except_: list[Any],
                           flags: dict[str, Any], nsp: str = "/") -> bytes:
    # notepack.encode([UID, packet, opts]) of redis-emitter 5.1.0, keys in its order.
    packet = {"type": 2, "data": data, "nsp": nsp}
    return bytes(msgpack.packb(["emitter", packet, {"rooms": rooms, "flags": flags, "except": except_}]))


async def test_broadcast_to_all_is_the_node_emitters_bytes(emitter: Emitter, listener: Listener) -> None:
    await emitter.emit("news", {"a": 1}, b"\x00\xff")
    channel, payload = await listener.next()
    assert channel == f"{listener.prefix}#/#"
    assert payload == node_emitter_broadcast(["news", {"a": 1}, b"\x00\xff"], [], [], {})
    assert ClassicFormat(listener.prefix).decode(channel, payload) == Broadcast(
        "emitter", "/", ["news", {"a": 1}, b"\x00\xff"], Target()
    )


async def test_one_room_goes_to_the_room_channel(emitter: Emitter, listener: Listener) -> None:
    await emitter.to("r1").except_("sid-x").emit("e", 1)
    channel, payload = await listener.next()
    assert channel == f"{listener.prefix}#/#r1#"
    assert payload == node_emitter_broadcast(["e", 1], ["r1"], ["sid-x"], {})


async def test_several_rooms_and_flags_and_namespace(emitter: Emitter, listener: Listener) -> None:
    await emitter.of("admin").to(["r1", "r2"]).to("r1").volatile.emit("e")
    channel, payload = await listener.next()
    assert channel == f"{listener.prefix}#/admin#"
    assert payload == node_emitter_broadcast(["e"], ["r1", "r2"], [], {"volatile": True}, "/admin")
    decoded = ClassicFormat(listener.prefix).decode(channel, payload)
    assert decoded == Broadcast(
        "emitter", "/admin", ["e"], Target(("r1", "r2"), (), {"volatile": True})
    )


async def test_requests_have_no_uid(emitter: Emitter, listener: Listener) -> None:
    fmt = ClassicFormat(listener.prefix)
    request_channel = f"{listener.prefix}-request#/#"

    await emitter.in_("a").except_("b").sockets_join("c")
    channel, payload = await listener.next()
    assert (channel, payload) == (
        request_channel, b'{"type":2,"opts":{"rooms":["a"],"except":["b"]},"rooms":["c"]}'
    )
    assert fmt.decode(channel, payload) == SocketsJoin(None, "/", Target(("a",), ("b",)), ("c",))

    await emitter.sockets_leave(["c", "d"])
    channel, payload = await listener.next()
    assert payload == b'{"type":3,"opts":{"rooms":[],"except":[]},"rooms":["c","d"]}'
    assert fmt.decode(channel, payload) == SocketsLeave(None, "/", Target(), ("c", "d"))

    await emitter.to("k").disconnect_sockets(close=True)
    channel, payload = await listener.next()
    assert payload == b'{"type":4,"opts":{"rooms":["k"],"except":[]},"close":true}'
    assert fmt.decode(channel, payload) == DisconnectSockets(None, "/", Target(("k",)), True)


async def test_server_side_emit_never_asks_for_an_answer(
    emitter: Emitter, listener: Listener
) -> None:
    await emitter.server_side_emit("sync", {"n": 1})
    channel, payload = await listener.next()
    assert channel == f"{listener.prefix}-request#/#"
    assert payload == b'{"uid":"emitter","type":6,"data":["sync",{"n":1}]}'
    assert ClassicFormat(listener.prefix).decode(channel, payload) == ServerSideEmit(
        "emitter", "/", ["sync", {"n": 1}]
    )


async def test_operators_are_immutable(emitter: Emitter) -> None:
    first = emitter.to("a")
    second = first.to("b").except_("c").volatile
    assert (first.rooms, first.except_rooms, first.flags) == (("a",), (), {})
    assert (second.rooms, second.except_rooms, second.flags) == (("a", "b"), ("c",), {"volatile": True})
    assert emitter.of("/x").nsp == "/x" and emitter.nsp == "/"


async def test_reserved_events_and_acks_are_refused(emitter: Emitter, listener: Listener) -> None:
    with pytest.raises(ValueError, match="reserved"):
        await emitter.emit("disconnect")
    with pytest.raises(ValueError, match="acknowledgements"):
        await emitter.to("a").emit("e", lambda *_: None)
    with pytest.raises(ValueError, match="acknowledgements"):
        await emitter.server_side_emit("e", lambda *_: None)
    # Nothing of the refused calls reached Redis: the next message is the sentinel.
    await emitter.emit("sentinel")
    _, payload = await listener.next()
    assert msgpack.unpackb(payload)[1]["data"] == ["sentinel"]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_an_unreachable_redis_is_reported() -> None:
    emitter = Emitter(f"redis://127.0.0.1:{_closed_port()}/0")
    try:
        with pytest.raises(ClusterError):
            await emitter.emit("e")
        with pytest.raises(ClusterError):
            await emitter.sockets_join("r")
    finally:
        await emitter.close()


async def test_a_client_passed_in_stays_open(prefix: str) -> None:
    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        async with Emitter(client, key_prefix=prefix) as emitter:
            await emitter.emit("e")
        assert await client.ping()
    finally:
        await client.aclose()
