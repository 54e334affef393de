"""Rooms and broadcasts within one process.

A socket's own room (its id) is implied, not stored: an idle socket that joined
nothing costs no set and no dict entry here.

A room maps each member's id to its socket, so a broadcast walks the sockets
themselves (no id hashed, no lookup per recipient: the fan-out hot path). A
member not yet registered in its namespace (a join from middleware, a
recovered session's rooms) is held as None and looked up again by the next
broadcast, which, as in Node, skips it until then.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from tidings.adapters.base import (
    AckCallback,
    BroadcastOptions,
    LocalNamespace,
    LocalSocket,
    SocketHandle,
    prepare_packet,
)
from tidings.ids import Room, Sid
from tidings.protocol.prepared import PreparedMessage
from tidings.protocol.socketio import Packet


class InMemoryAdapter:
    """The ``Adapter`` of a single process, and the reference implementation."""

    __slots__ = ("nsp", "_rooms", "_sids", "_unresolved")

    def __init__(self, nsp: LocalNamespace) -> None:
        self.nsp = nsp
        self._rooms: dict[Room, dict[Sid, LocalSocket | None]] = {}
        self._sids: dict[Sid, set[Room]] = {}
        #: Rooms holding a member as None (not registered when it joined).
        self._unresolved: set[Room] = set()

    # -- local room bookkeeping -------------------------------------------------

    def add_all(self, sid: Sid, rooms: Iterable[Room]) -> None:
        mine = self._sids.get(sid)
        socket = self.nsp.sockets.get(sid)
        for room in rooms:
            if room == Room(sid):
                continue
            if mine is None:
                mine = self._sids[sid] = set()
            mine.add(room)
            members = self._rooms.get(room)
            if members is None:
                self._rooms[room] = {sid: socket}
            else:
                members[sid] = socket
            if socket is None:
                self._unresolved.add(room)

    def delete(self, sid: Sid, room: Room) -> None:
        mine = self._sids.get(sid)
        if mine is None or room not in mine:
            return
        mine.discard(room)
        if not mine:
            del self._sids[sid]
        self._leave_room(sid, room)

    def delete_all(self, sid: Sid) -> None:
        mine = self._sids.pop(sid, None)
        if mine:
            for room in mine:
                self._leave_room(sid, room)

    def _leave_room(self, sid: Sid, room: Room) -> None:
        members = self._rooms.get(room)
        if members is not None:
            members.pop(sid, None)
            if not members:
                del self._rooms[room]
                self._unresolved.discard(room)

    def socket_rooms(self, sid: Sid) -> set[Room]:
        rooms = set(self._sids.get(sid, ()))
        rooms.add(Room(sid))
        return rooms

    def room_sids(self, room: Room) -> set[Sid]:
        members = self._rooms.get(room)
        if members is not None:
            return set(members)
        return {Sid(room)} if Sid(room) in self.nsp.sockets else set()

    def _resolve(self, room: Room, members: dict[Sid, LocalSocket | None]) -> None:
        """Fill in the members that were not registered when they joined, if they are now."""
        get = self.nsp.sockets.get
        missing = False
        for sid, socket in members.items():
            if socket is None:
                socket = get(sid)
                if socket is None:
                    missing = True
                else:
                    members[sid] = socket
        if not missing:
            self._unresolved.discard(room)

    def rooms(self) -> dict[Room, set[Sid]]:
        return {room: set(members) for room, members in self._rooms.items()}

    # -- recipients ---------------------------------------------------------------

    def _excluded(self, opts: BroadcastOptions) -> set[Sid]:
        excluded: set[Sid] = set()
        for room in opts.except_:
            members = self._rooms.get(room)
            if members is not None:
                excluded |= members.keys()
            if Sid(room) in self.nsp.sockets:
                excluded.add(Sid(room))
        return excluded

    def _recipients(self, opts: BroadcastOptions) -> list[LocalSocket]:
        sockets = self.nsp.sockets
        excluded = self._excluded(opts) if opts.except_ else None
        if not opts.rooms:
            if excluded:
                return [s for sid, s in sockets.items() if sid not in excluded]
            return list(sockets.values())
        if len(opts.rooms) == 1:
            (room,) = opts.rooms
            members = self._rooms.get(room)
            sids: Iterable[Sid] = members if members is not None else ((Sid(room),) if Sid(room) in sockets else ())
        else:
            union: set[Sid] = set()
            for room in opts.rooms:
                members = self._rooms.get(room)
                if members is not None:
                    union |= members.keys()
                elif Sid(room) in sockets:
                    union.add(Sid(room))
            sids = union
        out = []
        get = sockets.get
        for sid in sids:
            if excluded is not None and sid in excluded:
                continue
            socket = get(sid)
            if socket is not None:
                out.append(socket)
        return out

    def sids(self, opts: BroadcastOptions) -> list[Sid]:
        return [s.id for s in self._recipients(opts)]

    # -- broadcasts: encoded once, the same bytes for every recipient -------------------

    def _prepare(self, packet: Packet, opts: BroadcastOptions) -> PreparedMessage:
        return prepare_packet(packet, self.nsp.parser, opts.flags.compress, self.nsp.slow_consumer)

    async def broadcast(self, packet: Packet, opts: BroadcastOptions) -> None:
        rooms = opts.rooms
        if len(rooms) == 1 and not opts.except_ and not opts.flags.volatile:
            # The fan-out hot path: one room, one loop, one call per recipient.
            (room,) = rooms
            members = self._rooms.get(room)
            if members is not None:
                if room in self._unresolved:
                    self._resolve(room, members)
                prepared = self._prepare(packet, opts)
                # A copy: a send may close a socket, which then leaves its rooms.
                for socket in list(members.values()):
                    if socket is not None:
                        socket.writer.send_prepared(prepared)
                return
        recipients = self._recipients(opts)
        if not recipients:
            return
        prepared = self._prepare(packet, opts)
        if opts.flags.volatile:
            for socket in recipients:
                conn = socket.writer
                if conn.writable:
                    conn.send_prepared(prepared)
        else:
            for socket in recipients:
                socket.writer.send_prepared(prepared)

    async def broadcast_with_ack(
        self,
        packet: Packet,
        opts: BroadcastOptions,
        client_count_callback: Callable[[int], None],
        ack: AckCallback,
    ) -> None:
        recipients = list(self._recipients(opts))
        client_count_callback(len(recipients))
        if not recipients:
            return
        assert packet.id is not None
        prepared = self._prepare(packet, opts)
        for socket in recipients:
            socket.expect_ack(packet.id, ack)
            socket.writer.send_prepared(prepared)

    # -- operations on sockets (remote ones arrive here in a cluster) ---------------------

    async def add_sockets(self, opts: BroadcastOptions, rooms: Iterable[Room]) -> None:
        rooms = list(rooms)
        for socket in self._recipients(opts):
            socket.join(rooms)

    async def del_sockets(self, opts: BroadcastOptions, rooms: Iterable[Room]) -> None:
        rooms = list(rooms)
        for socket in self._recipients(opts):
            for room in rooms:
                socket.leave(room)

    async def disconnect_sockets(self, opts: BroadcastOptions, close: bool) -> None:
        for socket in list(self._recipients(opts)):
            await socket.disconnect(close=close)

    async def fetch_sockets(self, opts: BroadcastOptions) -> list[SocketHandle]:
        return list(self._recipients(opts))

    # -- the cluster: this process alone ------------------------------------------------

    async def server_side_emit(self, data: list[Any]) -> None:
        """No other server to hear it."""

    async def server_side_emit_with_ack(self, data: list[Any], timeout: float | None) -> list[Any]:
        """No other server: no answers, at once."""
        return []

    async def server_count(self) -> int:
        return 1

    async def open(self) -> None:
        """Nothing to join: one process."""

    async def close(self) -> None:
        self._rooms.clear()
        self._sids.clear()
