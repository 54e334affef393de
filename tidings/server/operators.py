"""Broadcast operators: ``sio.to(room).except_(other).volatile.emit(...)``.

Immutable: each modifier returns a new operator, so one can be kept and reused.
``Broadcaster`` gives the server and its namespaces the same operator methods, written once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import replace
from typing import Any, Protocol

from tidings.adapters.base import Adapter, BroadcastFlags, BroadcastOptions, SocketHandle
from tidings.errors import AckTimeoutError
from tidings.ids import Room, Sid
from tidings.protocol.socketio import RESERVED_EVENTS, Packet, PacketType, ack_value
from tidings.server.journal import Journal

__all__ = ["BroadcastOperator", "BroadcastTarget", "Broadcaster", "rooms_of"]


def rooms_of(room: str | Iterable[str]) -> frozenset[Room]:
    """One room name or several, as the set the adapter takes."""
    if isinstance(room, str):
        return frozenset((Room(room),))
    return frozenset(Room(r) for r in room)


class BroadcastTarget(Protocol):
    """What an operator needs of a namespace it broadcasts in (``tidings.Namespace``)."""

    @property
    def name(self) -> str: ...

    @property
    def adapter(self) -> Adapter: ...

    @property
    def journal(self) -> Journal | None: ...

    def next_ack_id(self) -> int: ...

    def notify_outgoing(self, socket: Any, event: str, args: tuple[Any, ...]) -> None: ...


_NO_FLAGS = BroadcastFlags()


class BroadcastOperator:
    __slots__ = ("_nsps", "_rooms", "_except", "_flags")

    def __init__(
        self,
        nsps: tuple[BroadcastTarget, ...],
        rooms: frozenset[Room] = frozenset(),
        except_: frozenset[Room] = frozenset(),
        flags: BroadcastFlags = _NO_FLAGS,
    ) -> None:
        self._nsps = nsps
        self._rooms = rooms
        self._except = except_
        self._flags = flags

    def _with(self, **changes: Any) -> BroadcastOperator:
        return BroadcastOperator(
            changes.get("nsps", self._nsps),
            changes.get("rooms", self._rooms),
            changes.get("except_", self._except),
            changes.get("flags", self._flags),
        )

    def to(self, room: str | Iterable[str]) -> BroadcastOperator:
        return self._with(rooms=self._rooms | rooms_of(room))

    in_ = to

    def except_(self, room: str | Iterable[str]) -> BroadcastOperator:
        return self._with(except_=self._except | rooms_of(room))

    @property
    def volatile(self) -> BroadcastOperator:
        return self._with(flags=replace(self._flags, volatile=True))

    @property
    def local(self) -> BroadcastOperator:
        return self._with(flags=replace(self._flags, local=True))

    def timeout(self, seconds: float) -> BroadcastOperator:
        return self._with(flags=replace(self._flags, timeout=seconds))

    def compress(self, flag: bool) -> BroadcastOperator:
        """``compress(False)``: sent uncompressed to every recipient, even over
        permessage-deflate, on every node of a cluster (Node's ``compress(false)``)."""
        return self._with(flags=replace(self._flags, compress=flag))

    @property
    def options(self) -> BroadcastOptions:
        return BroadcastOptions(self._rooms, self._except, self._flags)

    async def emit(self, event: str, *args: Any) -> None:
        """Send to every matching socket: encoded once, the same bytes for each."""
        if event in RESERVED_EVENTS:
            raise ValueError(f"{event!r} is a reserved event name")
        opts = self.options
        for nsp in self._nsps:
            nsp.notify_outgoing(None, event, args)
            packet = Packet(PacketType.EVENT, nsp.name, [event, *args])
            journal = nsp.journal
            if journal is None or opts.flags.volatile or (journal.recovery is None and not opts.rooms):
                await nsp.adapter.broadcast(packet, opts)
                continue
            # Stored before it is sent. With recovery on, the offset travels as the last argument.
            if journal.recovery is None:
                await journal.record(packet, opts.rooms, opts.except_)
                await nsp.adapter.broadcast(packet, opts)
                continue
            sequencer = journal.sequencer(nsp.name, nsp.adapter)
            logged = await journal.record(packet, opts.rooms, opts.except_, sequencer)
            turn = sequencer.turn(int(logged.data[-1]))
            if turn is not None:  # an offset before it has not been delivered here yet
                await turn
            # The adapter writes to the local sockets before it first suspends: in turn.
            await nsp.adapter.broadcast(logged, opts)

    async def emit_with_ack(self, event: str, *args: Any) -> list[Any]:
        """Send to every matching socket and collect one reply from each.

        Sockets that leave before answering are not waited for. With ``timeout(s)``
        set, raises ``AckTimeoutError`` (carrying the replies that did arrive) when
        some client has not answered in time.
        """
        if event in RESERVED_EVENTS:
            raise ValueError(f"{event!r} is a reserved event name")
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        responses: list[Any] = []
        state = {"expected": 0, "received": 0, "counted": 0}
        total_nsps = len(self._nsps)

        def check() -> None:
            if state["counted"] == total_nsps and state["received"] >= state["expected"] and not done.done():
                done.set_result(None)

        def on_count(n: int) -> None:
            state["expected"] += n
            state["counted"] += 1
            check()

        def on_ack(_sid: Sid, reply: list[Any] | None) -> None:
            state["received"] += 1
            if reply is not None:
                responses.append(ack_value(reply))
            check()

        opts = self.options
        for nsp in self._nsps:
            nsp.notify_outgoing(None, event, args)
            packet = Packet(PacketType.EVENT, nsp.name, [event, *args], nsp.next_ack_id())
            await nsp.adapter.broadcast_with_ack(packet, opts, on_count, on_ack)
        timeout = self._flags.timeout
        try:
            if timeout is None:
                await done
            else:
                await asyncio.wait_for(done, timeout)
        except TimeoutError:
            raise AckTimeoutError(responses=list(responses)) from None
        return responses

    async def fetch_sockets(self) -> list[SocketHandle]:
        found: list[SocketHandle] = []
        for nsp in self._nsps:
            found.extend(await nsp.adapter.fetch_sockets(self.options))
        return found

    async def sockets_join(self, room: str | Iterable[str]) -> None:
        for nsp in self._nsps:
            await nsp.adapter.add_sockets(self.options, rooms_of(room))

    async def sockets_leave(self, room: str | Iterable[str]) -> None:
        for nsp in self._nsps:
            await nsp.adapter.del_sockets(self.options, rooms_of(room))

    async def disconnect_sockets(self, close: bool = False) -> None:
        for nsp in self._nsps:
            await nsp.adapter.disconnect_sockets(self.options, close)


class Broadcaster:
    """The operator methods of ``Server`` and ``Namespace``: each starts a ``BroadcastOperator``
    from ``operator()``, which the class defines."""

    __slots__ = ()

    def operator(self) -> BroadcastOperator:
        """A fresh operator over every socket this object reaches."""
        raise NotImplementedError

    async def emit(self, event: str, *args: Any) -> None:
        await self.operator().emit(event, *args)

    async def send(self, *args: Any) -> None:
        """Broadcast a ``message`` event (Node's ``io.send`` / ``namespace.send``)."""
        await self.operator().emit("message", *args)

    write = send

    def to(self, room: str | Iterable[str]) -> BroadcastOperator:
        return self.operator().to(room)

    in_ = to

    def except_(self, room: str | Iterable[str]) -> BroadcastOperator:
        return self.operator().except_(room)

    @property
    def volatile(self) -> BroadcastOperator:
        return self.operator().volatile

    @property
    def local(self) -> BroadcastOperator:
        return self.operator().local

    def timeout(self, seconds: float) -> BroadcastOperator:
        return self.operator().timeout(seconds)

    def compress(self, flag: bool) -> BroadcastOperator:
        return self.operator().compress(flag)

    async def emit_with_ack(self, event: str, *args: Any) -> list[Any]:
        return await self.operator().emit_with_ack(event, *args)

    async def fetch_sockets(self) -> list[SocketHandle]:
        return await self.operator().fetch_sockets()

    async def sockets_join(self, room: str | Iterable[str]) -> None:
        await self.operator().sockets_join(room)

    async def sockets_leave(self, room: str | Iterable[str]) -> None:
        await self.operator().sockets_leave(room)

    async def disconnect_sockets(self, close: bool = False) -> None:
        await self.operator().disconnect_sockets(close)
