"""Emitters (processes that are not servers) driving a cluster: the official
``@socket.io/redis-emitter`` (``node/emitter.mjs``) and ``tidings.Emitter``, behind one API."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import redis.asyncio

import tidings

from .harness import EMITTER_SCRIPT, NodeProcess


class ClusterEmitter:
    """What both emitters offer the tests (always the classic format: the only one
    the Redis emitter speaks)."""

    name: str

    async def emit(
        self, event: str, *args: Any, rooms: Iterable[str] = (), except_: Iterable[str] = ()
    ) -> None:
        raise NotImplementedError

    async def sockets_join(
        self, room: str, rooms: Iterable[str] = (), except_: Iterable[str] = ()
    ) -> None:
        raise NotImplementedError

    async def sockets_leave(
        self, room: str, rooms: Iterable[str] = (), except_: Iterable[str] = ()
    ) -> None:
        raise NotImplementedError

    async def disconnect_sockets(
        self, close: bool = False, rooms: Iterable[str] = (), except_: Iterable[str] = ()
    ) -> None:
        raise NotImplementedError

    async def server_side_emit(self, event: str, *args: Any) -> None:
        raise NotImplementedError

    async def stop(self) -> None:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<emitter {self.name}>"


class NodeEmitter(NodeProcess, ClusterEmitter):
    @classmethod
    async def start(cls, node_bin: str, prefix: str, redis_url: str) -> NodeEmitter:
        emitter = cls("node-emitter", await cls.spawn(node_bin, EMITTER_SCRIPT, prefix, redis_url))
        await emitter.ready()
        return emitter

    async def emit(
        self, event: str, *args: Any, rooms: Iterable[str] = (), except_: Iterable[str] = ()
    ) -> None:
        await self.command(
            "emit", event=event, args=list(args), rooms=list(rooms), **{"except": list(except_)}
        )

    async def sockets_join(
        self, room: str, rooms: Iterable[str] = (), except_: Iterable[str] = ()
    ) -> None:
        await self.command("socketsJoin", room=room, rooms=list(rooms), **{"except": list(except_)})

    async def sockets_leave(
        self, room: str, rooms: Iterable[str] = (), except_: Iterable[str] = ()
    ) -> None:
        await self.command("socketsLeave", room=room, rooms=list(rooms), **{"except": list(except_)})

    async def disconnect_sockets(
        self, close: bool = False, rooms: Iterable[str] = (), except_: Iterable[str] = ()
    ) -> None:
        await self.command(
            "disconnectSockets", close=close, rooms=list(rooms), **{"except": list(except_)}
        )

    async def server_side_emit(self, event: str, *args: Any) -> None:
        await self.command("serverSideEmit", event=event, args=list(args))


class TidingsEmitter(ClusterEmitter):
    """``tidings.Emitter`` on a redis-py client this object owns and closes."""

    name = "tidings-emitter"

    def __init__(self, redis: Any, emitter: Any) -> None:
        self.redis = redis
        self.emitter = emitter

    @classmethod
    async def start(cls, prefix: str, redis_url: str) -> TidingsEmitter:
        client = redis.asyncio.Redis.from_url(redis_url)
        return cls(client, tidings.Emitter(client, key_prefix=prefix))

    def _target(self, rooms: Iterable[str], except_: Iterable[str]) -> Any:
        op = self.emitter
        for room in rooms:
            op = op.to(room)
        for room in except_:
            op = op.except_(room)
        return op

    async def emit(
        self, event: str, *args: Any, rooms: Iterable[str] = (), except_: Iterable[str] = ()
    ) -> None:
        await self._target(rooms, except_).emit(event, *args)

    async def sockets_join(
        self, room: str, rooms: Iterable[str] = (), except_: Iterable[str] = ()
    ) -> None:
        await self._target(rooms, except_).sockets_join(room)

    async def sockets_leave(
        self, room: str, rooms: Iterable[str] = (), except_: Iterable[str] = ()
    ) -> None:
        await self._target(rooms, except_).sockets_leave(room)

    async def disconnect_sockets(
        self, close: bool = False, rooms: Iterable[str] = (), except_: Iterable[str] = ()
    ) -> None:
        await self._target(rooms, except_).disconnect_sockets(close=close)

    async def server_side_emit(self, event: str, *args: Any) -> None:
        await self.emitter.server_side_emit(event, *args)

    async def stop(self) -> None:
        await self.redis.aclose()
