"""Sockets of other nodes, as ``fetch_sockets()`` returns them, and what we tell others of ours.

A ``RemoteSocket`` is a snapshot (id, handshake, rooms, data as the owning node reported
them) plus handles that act through the cluster: each operation is a cluster operation
targeting the socket's id, as Node's ``RemoteSocket`` does.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Iterable, Mapping
from typing import Any, Protocol

from tidings.adapters.base import LocalSocket
from tidings.ids import Room, Sid

__all__ = ["RemoteOperations", "RemoteSocket", "socket_details"]

logger = logging.getLogger("tidings.adapters.redis")

HANDSHAKE_KEYS = ("headers", "time", "address", "xdomain", "secure", "issued", "url", "query", "auth")
"""Node's ``socket.handshake`` keys, in its order."""


class RemoteOperations(Protocol):
    """What a ``RemoteSocket`` asks of its adapter (``ClusterAdapter``)."""

    async def emit_to_remote(self, sid: Sid, data: list[Any]) -> None: ...

    async def emit_to_remote_with_ack(self, sid: Sid, data: list[Any], timeout: float) -> Any: ...

    async def join_remote(self, sid: Sid, rooms: list[Room]) -> None: ...

    async def leave_remote(self, sid: Sid, rooms: list[Room]) -> None: ...

    async def disconnect_remote(self, sid: Sid, close: bool) -> None: ...


class RemoteSocket:
    """A socket on another node (a ``SocketHandle``); made by ``ClusterAdapter.fetch_sockets``."""

    __slots__ = ("_ops", "_id", "_rooms", "_data", "handshake", "_pending")

    def __init__(self, ops: RemoteOperations, details: Mapping[str, Any]) -> None:
        self._ops = ops
        self._id = Sid(str(details["id"]))
        self._rooms = {Room(str(r)) for r in details.get("rooms") or ()}
        data = details.get("data")
        self._data: dict[str, Any] = data if isinstance(data, dict) else {}
        handshake = details.get("handshake")
        self.handshake: dict[str, Any] = handshake if isinstance(handshake, dict) else {}
        """As the owning node reported it (Node's shape: headers, time, address, ...)."""
        self._pending: set[asyncio.Task[None]] = set()

    def __repr__(self) -> str:
        return f"<RemoteSocket {self._id}>"

    @property
    def id(self) -> Sid:
        return self._id

    @property
    def rooms(self) -> set[Room]:
        """Its rooms when it was fetched."""
        return self._rooms

    @property
    def data(self) -> dict[str, Any]:
        """Its ``data`` when it was fetched (changing it here changes nothing there)."""
        return self._data

    async def emit(self, event: str, *args: Any) -> None:
        await self._ops.emit_to_remote(self._id, [event, *args])

    async def emit_with_ack(self, event: str, *args: Any, timeout: float = 5.0) -> Any:
        """Its answer (the first ack argument); ``AckTimeoutError`` when none came in time."""
        return await self._ops.emit_to_remote_with_ack(self._id, [event, *args], timeout)

    def join(self, rooms: str | Iterable[str]) -> None:
        """Sent to its node in the background (as the ``SocketHandle`` interface is synchronous)."""
        names = [Room(rooms)] if isinstance(rooms, str) else [Room(r) for r in rooms]
        self._spawn(self._ops.join_remote(self._id, names))

    def leave(self, room: str) -> None:
        self._spawn(self._ops.leave_remote(self._id, [Room(room)]))

    async def disconnect(self, close: bool = False) -> None:
        await self._ops.disconnect_remote(self._id, close)

    def _spawn(self, operation: Awaitable[None]) -> None:
        task = asyncio.ensure_future(operation)
        self._pending.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._pending.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.warning("operation on remote socket %s failed: %r", self._id, task.exception())


def socket_details(socket: LocalSocket) -> dict[str, Any]:
    """``{id, handshake, rooms, data}`` of a local socket, as Node answers a fetch."""
    return {
        "id": socket.id,
        "handshake": handshake_details(getattr(socket, "handshake", None)),
        "rooms": sorted(socket.rooms, key=str),
        "data": socket.data,
    }


def handshake_details(handshake: Any) -> dict[str, Any]:
    """Node's handshake shape: its keys in its order, ``time`` as a JavaScript Date string."""
    if handshake is None:
        return {}
    if dataclasses.is_dataclass(handshake) and not isinstance(handshake, type):
        fields = {f.name: getattr(handshake, f.name) for f in dataclasses.fields(handshake)}
    elif isinstance(handshake, Mapping):
        fields = dict(handshake)
    else:
        return {}
    out = {key: fields[key] for key in HANDSHAKE_KEYS if key in fields}
    time = out.get("time")
    if isinstance(time, str) and time.endswith(" GMT"):
        out["time"] = time + "+0000 (Coordinated Universal Time)"
    if isinstance(out.get("headers"), Mapping):
        out["headers"] = dict(out["headers"])
    if isinstance(out.get("query"), Mapping):
        out["query"] = dict(out["query"])
    return out
