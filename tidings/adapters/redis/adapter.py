"""One namespace's adapter in a Redis cluster: local rooms in memory, everything else also on Redis.

Local work is the in-memory adapter's (encoded once, the same bytes for every local
recipient); each cluster operation is also published once, and what other nodes publish
comes back here decoded once. The sender applies its own operations locally and ignores
its own echo (every format allows it), so a node never applies a message twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from tidings.adapters.base import (
    AckCallback,
    BroadcastFlags,
    BroadcastOptions,
    LocalNamespace,
    SocketHandle,
)
from tidings.adapters.memory import InMemoryAdapter
from tidings.adapters.redis.messages import (
    AllRooms,
    AllRoomsResponse,
    Broadcast,
    BroadcastAck,
    BroadcastClientCount,
    ClusterMessage,
    DisconnectSockets,
    FetchSockets,
    FetchSocketsResponse,
    ServerSideEmit,
    ServerSideEmitResponse,
    SocketsJoin,
    SocketsLeave,
    Target,
)
from tidings.adapters.redis.pending import AckBroadcastRequest, AnswersRequest, PendingRequests
from tidings.adapters.redis.remote import RemoteSocket, socket_details
from tidings.adapters.redis.wire import Bus, WireFormat
from tidings.errors import ClusterError
from tidings.ids import Room, Sid
from tidings.protocol.socketio import Packet, PacketType

__all__ = ["ClusterAdapter", "NodeLink"]

logger = logging.getLogger("tidings.adapters.redis")


class NodeLink(Protocol):
    """What a namespace's adapter uses of its server's side of the cluster (``RedisAdapter``,
    ``LocalBusAdapter``)."""

    @property
    def wire(self) -> WireFormat: ...

    @property
    def bus(self) -> Bus: ...

    @property
    def requests_timeout(self) -> float: ...

    def new_id(self) -> str:
        """A fresh node uid or request id, in the format's alphabet."""
        ...

    async def adapter_closed(self, adapter: ClusterAdapter) -> None: ...


_NO_FLAGS = BroadcastFlags()


def target_of(opts: BroadcastOptions, **flags: Any) -> Target:
    """Node's ``{rooms, except, flags}`` for ``opts`` (``local`` never travels)."""
    wire_flags: dict[str, Any] = dict(flags)
    if opts.flags.volatile:
        wire_flags["volatile"] = True
    if opts.flags.timeout is not None and "timeout" not in wire_flags:
        wire_flags["timeout"] = int(opts.flags.timeout * 1000)
    if not opts.flags.compress:
        wire_flags["compress"] = False
    return Target(tuple(opts.rooms), tuple(opts.except_), wire_flags)


def options_of(target: Target) -> BroadcastOptions:
    """The local selection a received ``Target`` makes (``volatile`` and ``compress`` apply
    here; as in Node, only ``compress: false`` turns compression off)."""
    flags = target.flags
    volatile = bool(flags.get("volatile")) if flags else False
    compress = flags.get("compress") is not False if flags else True
    return BroadcastOptions(
        frozenset(Room(r) for r in target.rooms),  # type: ignore[arg-type]  # int rooms stay ints
        frozenset(Room(r) for r in target.except_),  # type: ignore[arg-type]
        BroadcastFlags(volatile=volatile, compress=compress) if volatile or not compress else _NO_FLAGS,
    )


class ClusterAdapter(InMemoryAdapter):
    """The ``Adapter`` of one namespace on a Redis cluster; made by ``RedisAdapter``."""

    __slots__ = ("link", "uid", "_requests", "_tasks", "_opened")

    def __init__(self, nsp: LocalNamespace, link: NodeLink) -> None:
        super().__init__(nsp)
        self.link = link
        self.uid = link.new_id()
        """This node's id for this namespace on the wire (every namespace has its own)."""
        self._requests = PendingRequests()
        self._tasks: set[asyncio.Task[None]] = set()
        self._opened = False

    # -- joining and leaving the cluster --------------------------------------------------

    async def open(self) -> None:
        if self._opened:
            return
        subs = self.link.wire.subscriptions(self.nsp.name, self.uid)
        await self.link.bus.subscribe(subs.channels, subs.patterns, subs.sharded)
        for stream in subs.streams:
            await self.link.bus.read_stream(stream)
        self._opened = True

    async def close(self) -> None:
        subs = self.link.wire.subscriptions(self.nsp.name, self.uid)
        room_channels = self.room_channels()
        self._opened = False
        self._requests.fail_all(ClusterError("the adapter was closed"))
        for task in list(self._tasks):
            task.cancel()
        await self.link.bus.unsubscribe(subs.channels, subs.patterns, subs.sharded)
        if room_channels:
            await self.link.bus.unsubscribe(room_channels, (), subs.sharded)
        await self.link.adapter_closed(self)
        await super().close()

    def room_channels(self) -> list[str]:
        """Channels of the local rooms (sharded dynamic modes), for the subscriptions."""
        return []

    def connection_lost(self, error: BaseException) -> None:
        """Redis went away: fail what waits for answers (called by ``RedisAdapter``)."""
        self._requests.fail_all(ClusterError(f"connection to Redis lost: {error!r}"))

    async def server_count(self) -> int:
        command, channel = self.link.wire.count_channel(self.nsp.name)
        return max(1, await self.link.bus.count_subscribers(command, channel))

    # -- operations started here ----------------------------------------------------------

    async def _publish(self, message: ClusterMessage, reply_to: str | None = None) -> None:
        await self.link.bus.send(self.link.wire.encode(message, reply_to))

    async def broadcast(self, packet: Packet, opts: BroadcastOptions) -> None:
        await InMemoryAdapter.broadcast(self, packet, opts)
        if not opts.flags.local:
            await self._publish(Broadcast(self.uid, self.nsp.name, list(packet.data or []), target_of(opts)))

    async def broadcast_with_ack(
        self,
        packet: Packet,
        opts: BroadcastOptions,
        client_count_callback: Callable[[int], None],
        ack: AckCallback,
    ) -> None:
        local: list[int] = []
        await InMemoryAdapter.broadcast_with_ack(self, packet, opts, local.append, ack)
        if opts.flags.local:
            client_count_callback(local[0])
            return
        nodes = await self.server_count() - 1
        request = AckBroadcastRequest(nodes, local[0], client_count_callback, ack)
        if nodes <= 0:
            return
        request_id = self.link.new_id()
        self._requests.add(request_id, request)
        timeout = opts.flags.timeout if opts.flags.timeout is not None else self.link.requests_timeout
        message = Broadcast(self.uid, self.nsp.name, list(packet.data or []), target_of(opts), request_id)
        try:
            await self._publish(message)
        except ClusterError:
            self._requests.remove(request_id)
            request.finish_count()
            raise
        loop = asyncio.get_running_loop()
        loop.call_later(timeout, self._ack_deadline, request_id, request)

    def _ack_deadline(self, request_id: str, request: AckBroadcastRequest) -> None:
        if self._requests.get(request_id) is request:
            self._requests.remove(request_id)
        request.finish_count()

    async def add_sockets(self, opts: BroadcastOptions, rooms: Iterable[Room]) -> None:
        rooms = list(rooms)
        await InMemoryAdapter.add_sockets(self, opts, rooms)
        if not opts.flags.local:
            await self._publish(SocketsJoin(self.uid, self.nsp.name, target_of(opts), tuple(rooms)))

    async def del_sockets(self, opts: BroadcastOptions, rooms: Iterable[Room]) -> None:
        rooms = list(rooms)
        await InMemoryAdapter.del_sockets(self, opts, rooms)
        if not opts.flags.local:
            await self._publish(SocketsLeave(self.uid, self.nsp.name, target_of(opts), tuple(rooms)))

    async def disconnect_sockets(self, opts: BroadcastOptions, close: bool) -> None:
        await InMemoryAdapter.disconnect_sockets(self, opts, close)
        if not opts.flags.local:
            await self._publish(DisconnectSockets(self.uid, self.nsp.name, target_of(opts), close))

    async def fetch_sockets(self, opts: BroadcastOptions) -> list[SocketHandle]:
        """Local sockets as they are, other nodes' as ``RemoteSocket``; raises
        ``AckTimeoutError`` when some node did not answer in time (``opts.flags.timeout``, else
        ``requests_timeout``), ``ClusterError`` when Redis is unreachable."""
        found = await InMemoryAdapter.fetch_sockets(self, opts)
        if opts.flags.local:
            return found
        timeout = opts.flags.timeout if opts.flags.timeout is not None else self.link.requests_timeout
        answers = await self._request(
            lambda rid: FetchSockets(self.uid, self.nsp.name, target_of(opts), rid), timeout
        )
        for sockets in answers:
            found.extend(RemoteSocket(self, details) for details in sockets)
        return found

    async def all_rooms(self) -> set[Room]:
        """Every room of the cluster, socket ids included (classic format only)."""
        rooms: set[Room] = set(self._rooms)
        rooms.update(Room(sid) for sid in self.nsp.sockets)
        answers = await self._request(
            lambda rid: AllRooms(self.uid, self.nsp.name, rid), self.link.requests_timeout
        )
        for answer in answers:
            rooms.update(answer)
        return rooms

    async def server_side_emit(self, data: list[Any]) -> None:
        await self._publish(ServerSideEmit(self.uid, self.nsp.name, data))

    async def server_side_emit_with_ack(self, data: list[Any], timeout: float | None) -> list[Any]:
        wait = timeout if timeout is not None else self.link.requests_timeout
        return await self._request(lambda rid: ServerSideEmit(self.uid, self.nsp.name, data, rid), wait)

    async def _request(self, make: Callable[[str], ClusterMessage], timeout: float) -> list[Any]:
        """Publish a request and collect one answer per other server."""
        expected = await self.server_count() - 1
        if expected <= 0:
            return []
        request_id = self.link.new_id()
        request = AnswersRequest(expected)
        self._requests.add(request_id, request)
        try:
            await self._publish(make(request_id))
            return await request.wait(timeout)
        finally:
            self._requests.remove(request_id)

    # -- operations on one socket of another node (called by ``RemoteSocket``) ---------------

    def _one(self, sid: Sid) -> BroadcastOptions:
        return BroadcastOptions(frozenset((Room(sid),)))

    async def emit_to_remote(self, sid: Sid, data: list[Any]) -> None:
        await self._publish(Broadcast(self.uid, self.nsp.name, data, target_of(self._one(sid))))

    async def emit_to_remote_with_ack(self, sid: Sid, data: list[Any], timeout: float) -> Any:
        request_id = self.link.new_id()
        request = AnswersRequest(1)

        def answered(_sid: Sid, args: list[Any] | None) -> None:
            request.answer(args[0] if args else None)

        # The owning node answers as for any broadcast with acks: a count, then the ack.
        self._requests.add(request_id, AckBroadcastRequest(1, 0, lambda _count: None, answered))
        target = target_of(self._one(sid), expectSingleResponse=True, timeout=int(timeout * 1000))
        try:
            await self._publish(Broadcast(self.uid, self.nsp.name, data, target, request_id))
            return (await request.wait(timeout))[0]
        finally:
            self._requests.remove(request_id)

    async def join_remote(self, sid: Sid, rooms: list[Room]) -> None:
        await self.add_sockets(self._one(sid), rooms)

    async def leave_remote(self, sid: Sid, rooms: list[Room]) -> None:
        await self.del_sockets(self._one(sid), rooms)

    async def disconnect_remote(self, sid: Sid, close: bool) -> None:
        await self.disconnect_sockets(self._one(sid), close)

    # -- what other nodes send (called by ``RedisAdapter``, decoded once) ---------------------

    async def receive(self, message: ClusterMessage) -> None:
        """Act on one message from another node (own echoes and answers to others dropped)."""
        if message.uid == self.uid:
            return
        if isinstance(message, Broadcast):
            opts = options_of(message.target)
            if message.request_id is None:
                packet = Packet(PacketType.EVENT, self.nsp.name, message.data)
                if not self.nsp.receive_broadcast(packet, opts):  # else delivered in order
                    await InMemoryAdapter.broadcast(self, packet, opts)
            else:
                await self._answer_ack_broadcast(message, opts)
        elif isinstance(message, SocketsJoin):
            await InMemoryAdapter.add_sockets(self, options_of(message.target), message.rooms)  # type: ignore[arg-type]
        elif isinstance(message, SocketsLeave):
            await InMemoryAdapter.del_sockets(self, options_of(message.target), message.rooms)  # type: ignore[arg-type]
        elif isinstance(message, DisconnectSockets):
            await InMemoryAdapter.disconnect_sockets(self, options_of(message.target), message.close)
        elif isinstance(message, FetchSockets):
            sockets = [socket_details(s) for s in self._recipients(options_of(message.target))]
            await self._reply(FetchSocketsResponse(self.uid, self.nsp.name, message.request_id, sockets), message.uid)
        elif isinstance(message, AllRooms):
            rooms: list[Any] = [*self._rooms, *self.nsp.sockets]
            await self._reply(AllRoomsResponse(self.uid, self.nsp.name, message.request_id, rooms), message.uid)
        elif isinstance(message, ServerSideEmit):
            self._receive_server_side_emit(message)
        else:
            self._receive_answer(message)

    def _receive_answer(self, message: ClusterMessage) -> None:
        request = self._requests.get(getattr(message, "request_id", ""))
        if request is None:
            return
        if isinstance(request, AckBroadcastRequest):
            if isinstance(message, BroadcastClientCount):
                request.client_count(message.count)
            elif isinstance(message, BroadcastAck):
                request.client_ack(message.data)
        elif isinstance(message, FetchSocketsResponse):
            request.answer([s for s in message.sockets if isinstance(s, dict) and "id" in s])
        elif isinstance(message, AllRoomsResponse):
            request.answer(message.rooms)
        elif isinstance(message, ServerSideEmitResponse):
            request.answer(message.data)

    async def _reply(self, message: ClusterMessage, requester: str | None) -> None:
        try:
            await self._publish(message, requester)
        except ClusterError as exc:
            logger.warning("namespace %s: could not answer a request: %s", self.nsp.name, exc)

    def _spawn_reply(self, message: ClusterMessage, requester: str | None, after: asyncio.Future[None] | None = None) -> None:
        async def reply() -> None:
            if after is not None:
                await after
            await self._reply(message, requester)

        task = asyncio.ensure_future(reply())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _receive_server_side_emit(self, message: ServerSideEmit) -> None:
        request_id = message.request_id
        if request_id is None:
            self.nsp.receive_server_side_emit(message.data, None)
            return
        answered = False

        def answer(value: Any) -> None:
            nonlocal answered
            if not answered:
                answered = True
                self._spawn_reply(
                    ServerSideEmitResponse(self.uid, self.nsp.name, request_id, value), message.uid
                )

        self.nsp.receive_server_side_emit(message.data, answer)

    async def _answer_ack_broadcast(self, message: Broadcast, opts: BroadcastOptions) -> None:
        """Count our clients for the requester, then forward each client's first ack argument."""
        request_id = message.request_id
        assert request_id is not None
        counted: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def on_ack(_sid: Sid, args: list[Any] | None) -> None:
            if args is not None:
                data = args[0] if args else None
                reply = BroadcastAck(self.uid, self.nsp.name, request_id, data)
                self._spawn_reply(reply, message.uid, counted)

        counts: list[int] = []
        packet = Packet(PacketType.EVENT, self.nsp.name, message.data, self._new_ack_id())
        await InMemoryAdapter.broadcast_with_ack(self, packet, opts, counts.append, on_ack)
        try:
            await self._reply(BroadcastClientCount(self.uid, self.nsp.name, request_id, counts[0]), message.uid)
        finally:
            counted.set_result(None)

    def _new_ack_id(self) -> int:
        return self.nsp.next_ack_id()
