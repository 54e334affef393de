"""The server side of one client's connection to one namespace."""

from __future__ import annotations

import asyncio
import enum
import logging
import time
import types
from collections import deque
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tidings.errors import AckTimeoutError, DisconnectedError
from tidings.handlers import Handler, call_maybe_async, run_inline
from tidings.ids import Room, Sid, new_sid
from tidings.protocol.socketio import (
    RESERVED_EVENTS,
    Packet,
    PacketType,
    ack_args,
    ack_value,
    encode,
)

if TYPE_CHECKING:
    from tidings.engine import EngineSocket, PreparedMessage
    from tidings.server.client import Client
    from tidings.server.namespace import Namespace
    from tidings.server.operators import BroadcastOperator
    from tidings.server.server import Server

logger = logging.getLogger("tidings.server")

AckCallback = Callable[[Sid, "list[Any] | None"], None]
Job = Callable[[], Coroutine[Any, Any, None]]


class SocketState(enum.Enum):
    CONNECTING = "connecting"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    REFUSED = "refused"  # never connected: refused, or gone before the connect flow ended


@dataclass(frozen=True, slots=True)
class Handshake:
    """What the client presented when it connected (as Node's ``socket.handshake``)."""

    headers: dict[str, str]
    query: dict[str, str]
    auth: Any
    address: str | None
    time: str
    issued: int
    url: str
    secure: bool
    xdomain: bool


class Socket:
    """Handed to every handler. Cheap while idle: no task, no timer, no room set of its own."""

    __slots__ = (
        "id", "nsp", "client", "_out", "state", "auth", "pid", "recovered", "_issued", "_data",
        "_acks", "_queue", "_saving", "_left_rooms",
    )

    def __init__(self, nsp: Namespace, client: Client, auth: Any) -> None:
        self.id: Sid = new_sid()
        self.nsp = nsp
        self.client = client
        # Until the CONNECT reply is out, whatever is sent to this socket (its own emits and
        # broadcasts alike) waits here, so the client reads CONNECT first and then all in order.
        self._out: EngineSocket | HeldConnection = HeldConnection()
        self.state = SocketState.CONNECTING
        self.auth = auth
        self.pid: str | None = None
        """Private session id, with connection state recovery on."""
        self.recovered = False
        """Whether this connection restored an earlier session (and was sent what it missed)."""
        self._issued = time.time()
        self._data: dict[str, Any] | None = None
        self._acks: dict[int, AckCallback] | None = None
        self._queue: deque[Job] | None = None
        self._saving = False
        self._left_rooms: set[Room] | None = None

    # -- what handlers read ----------------------------------------------------------

    @property
    def conn(self) -> EngineSocket:
        """The Engine.IO connection under this socket (shared by its namespaces)."""
        return self.client.conn

    @property
    def namespace(self) -> str:
        return self.nsp.name

    @property
    def server(self) -> Server:
        return self.nsp.server

    @property
    def connected(self) -> bool:
        return self.state is SocketState.CONNECTED

    @property
    def data(self) -> dict[str, Any]:
        """Free-form per-socket storage for the application."""
        if self._data is None:
            self._data = {}
        return self._data

    @property
    def rooms(self) -> set[Room]:
        """Its rooms; after it left, the rooms it had (as disconnect handlers expect)."""
        if self._left_rooms is not None:
            return set(self._left_rooms)
        return self.nsp.adapter.socket_rooms(self.id)

    @property
    def handshake(self) -> Handshake:
        request = self.client.conn.request
        origin = request.headers.get("origin")
        host = request.headers.get("host")
        url = request.path + ("?" + request.query_string if request.query_string else "")
        return Handshake(
            headers=request.headers,
            query=request.query,
            auth=self.auth if self.auth is not None else {},
            address=request.client[0] if request.client else None,
            time=time.strftime("%a %b %d %Y %H:%M:%S GMT", time.gmtime(self._issued)),
            issued=int(self._issued * 1000),
            url=url,
            secure=request.scheme in ("https", "wss"),
            xdomain=origin is not None and host is not None and not origin.endswith("//" + host),
        )

    @property
    def transport(self) -> str:
        return self.client.conn.transport_name

    # -- rooms -------------------------------------------------------------------------

    def join(self, rooms: str | Iterable[str]) -> None:
        if isinstance(rooms, str):
            rooms = (rooms,)
        self.nsp.adapter.add_all(self.id, [Room(r) for r in rooms])
        self._session_changed()

    def leave(self, room: str) -> None:
        self.nsp.adapter.delete(self.id, Room(room))
        self._session_changed()

    def _session_changed(self) -> None:
        """Keep the stored session current, so a crash loses no room membership."""
        if self.pid is None or self._saving or self.state is not SocketState.CONNECTED:
            return
        self._saving = True
        self.nsp.server._spawn(self._save_session())

    async def _save_session(self) -> None:
        journal = self.nsp.server._journal
        await asyncio.sleep(0)  # one write for every join/leave of this turn
        self._saving = False
        if journal is not None and self.state is SocketState.CONNECTED:
            await journal.save(self)

    # -- sending -----------------------------------------------------------------------

    async def emit(self, event: str, *args: Any) -> None:
        """Send an event to this client. Never blocks: it is queued on the connection."""
        if event in RESERVED_EVENTS:
            raise ValueError(f"{event!r} is a reserved event name")
        self.nsp._notify_outgoing(self, event, args)
        packet = Packet(PacketType.EVENT, self.nsp.name, [event, *args])
        journal = self.nsp.server._journal
        if journal is not None and journal.recovery is not None:
            # Stored before it is sent; its offset travels as the last argument.
            packet = await journal.record(packet, (self.id,), ())
            self._send_packet(packet)
            journal.mark_sent(packet)
            return
        self._send_packet(packet)

    async def emit_with_ack(self, event: str, *args: Any, timeout: float | None = None) -> Any:
        """Send an event and wait for the client's acknowledgement.

        One ack argument is returned as is, several as a tuple, none as None.
        """
        if event in RESERVED_EVENTS:
            raise ValueError(f"{event!r} is a reserved event name")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[Any]] = loop.create_future()

        def on_ack(_sid: Sid, reply: list[Any] | None) -> None:
            if future.done():
                return
            if reply is None:
                future.set_exception(DisconnectedError("socket disconnected before acknowledging"))
            else:
                future.set_result(reply)

        ack_id = self.nsp._next_ack_id()
        self._expect_ack(ack_id, on_ack)
        self.nsp._notify_outgoing(self, event, args)
        self._send_packet(Packet(PacketType.EVENT, self.nsp.name, [event, *args], ack_id))
        try:
            if timeout is None:
                reply = await future
            else:
                reply = await asyncio.wait_for(future, timeout)
        except TimeoutError:
            if self._acks is not None:
                self._acks.pop(ack_id, None)
            raise AckTimeoutError() from None
        return ack_value(reply)

    def _send_packet(self, packet: Packet) -> None:
        if self.state is SocketState.DISCONNECTED or self.state is SocketState.REFUSED:
            return
        encoded = encode(packet, self.nsp.serializer)
        conn = self._out
        conn.send(encoded.text)
        for attachment in encoded.attachments:
            conn.send(attachment)

    def _expect_ack(self, ack_id: int, callback: AckCallback) -> None:
        if self._acks is None:
            self._acks = {}
        self._acks[ack_id] = callback

    # -- broadcast operators from this socket: everyone but the sender ------------------

    def _operator(self) -> BroadcastOperator:
        from tidings.server.operators import BroadcastOperator

        return BroadcastOperator((self.nsp,), except_=frozenset({Room(self.id)}))

    @property
    def broadcast(self) -> BroadcastOperator:
        return self._operator()

    def to(self, room: str | Iterable[str]) -> BroadcastOperator:
        return self._operator().to(room)

    in_ = to

    def except_(self, room: str | Iterable[str]) -> BroadcastOperator:
        return self._operator().except_(room)

    @property
    def volatile(self) -> BroadcastOperator:
        return self._operator().volatile

    def timeout(self, seconds: float) -> BroadcastOperator:
        return self._operator().timeout(seconds)

    # -- leaving -------------------------------------------------------------------------

    async def disconnect(self, close: bool = False) -> None:
        """Disconnect from this namespace; with ``close``, drop the whole connection."""
        if self.state is not SocketState.CONNECTED:
            return
        if close:
            self.client.disconnect()
            return
        self._send_packet(Packet(PacketType.DISCONNECT, self.nsp.name))
        self._on_close("server namespace disconnect")

    # -- driven by the Client ----------------------------------------------------------

    def _connected(self, missed: list[Packet]) -> None:
        """Middleware and the connect handler accepted the client: CONNECT, then what waited."""
        self.state = SocketState.CONNECTED
        conn = self.client.conn
        reply: dict[str, Any] = {"sid": self.id}
        if self.pid is not None:
            reply["pid"] = self.pid
        encoded = encode(Packet(PacketType.CONNECT, self.nsp.name, reply), self.nsp.serializer)
        conn.send(encoded.text)
        for packet in missed:
            encoded = encode(packet, self.nsp.serializer)
            conn.send(encoded.text)
            for attachment in encoded.attachments:
                conn.send(attachment)
        # What was held follows on the next turn, in a write of its own, so a client reading
        # the CONNECT sees it alone, as it would from Node; until then new sends still wait.
        asyncio.get_running_loop().call_soon(self._go_live)

    def _go_live(self) -> None:
        held = self._out
        if isinstance(held, HeldConnection):
            self._out = self.client.conn
            if self.state is SocketState.CONNECTED:
                held.release_to(self._out)

    def _refused(self) -> None:
        self.state = SocketState.REFUSED
        self.nsp.sockets.pop(self.id, None)
        self.nsp.adapter.delete_all(self.id)

    def _on_event(self, packet: Packet) -> None:
        data = packet.data
        event: str = data[0]
        args = data[1:]
        nsp = self.nsp
        if nsp.any_listeners:
            for listener in nsp.any_listeners:
                try:
                    listener.call(self, event, args)
                except Exception:
                    logger.exception("sid=%s any-listener failed on %r", self.id, event)
        handler = nsp.handlers.get(event)
        if handler is None:
            catch_all = nsp.handlers.get("*")
            if catch_all is None:
                return
            handler, args = catch_all, [event, *args]
        if handler.inline and self._queue is None:
            # Fast path: a plain function, or a coroutine that cannot suspend, runs here.
            self._run_sync(handler, event, args, packet.id)
            return
        self._schedule(lambda: self._run_event(handler, event, args, packet.id))

    def _run_sync(self, handler: Handler, event: str, args: list[Any], ack_id: int | None) -> None:
        try:
            result = handler.call(self, *args)
            if handler.is_coroutine:
                result = run_inline(result)
        except Exception:
            logger.exception("sid=%s handler for %r failed", self.id, event)
            return
        if isinstance(result, types.CoroutineType):  # an async callable not seen as one
            self._schedule(lambda: self._finish_ack(result, event, ack_id))
            return
        if ack_id is not None:
            self._send_ack(ack_id, result)

    async def _finish_ack(self, awaitable: Any, event: str, ack_id: int | None) -> None:
        try:
            result = await awaitable
        except Exception:
            logger.exception("sid=%s handler for %r failed", self.id, event)
            return
        if ack_id is not None:
            self._send_ack(ack_id, result)

    async def _run_event(self, handler: Handler, event: str, args: list[Any], ack_id: int | None) -> None:
        # Events that arrived before a disconnect still run (as in Node); a refused client's don't.
        if self.state is SocketState.REFUSED:
            return
        try:
            result = await call_maybe_async(handler, self, *args)
        except Exception:
            logger.exception("sid=%s handler for %r failed", self.id, event)
            return
        if ack_id is not None:
            self._send_ack(ack_id, result)

    def _send_ack(self, ack_id: int, result: Any) -> None:
        data = ack_args(result)
        nsp = self.nsp
        if nsp.name == "/" and self.state is SocketState.CONNECTED:
            # An ACK on "/" without bytes is "3<id><json>": written here, no packet objects.
            try:
                text = "3" + str(ack_id) + nsp.serializer.dumps(data)
            except TypeError:
                pass  # bytes inside: the encoder makes it a BINARY_ACK
            else:
                self._out.send(text)
                return
        self._send_packet(Packet(PacketType.ACK, nsp.name, data, ack_id))

    def _on_ack(self, packet: Packet) -> None:
        if self._acks is None or packet.id is None:
            return
        callback = self._acks.pop(packet.id, None)
        if callback is None:
            logger.debug("sid=%s unexpected ack id %s", self.id, packet.id)
            return
        callback(self.id, list(packet.data))

    def _schedule(self, job: Job) -> None:
        """Run ``job`` after this socket's earlier jobs (or at once, if events run concurrently)."""
        server = self.nsp.server
        if self._queue is None and server.options.concurrent_events:
            server._spawn(job())
            return
        if self._queue is None:
            self._queue = deque()
            server._spawn(self._drain(job), discard=False)
        else:
            self._queue.append(job)

    def _start(self, connect_job: Job) -> None:
        """Run the connect flow; events that arrive meanwhile wait behind it in any mode."""
        self._queue = deque()
        self.nsp.server._spawn(self._drain(connect_job), discard=False)

    async def _drain(self, first: Job) -> None:
        try:
            await first()
            queue = self._queue
            while queue:
                await queue.popleft()()
        finally:
            self._queue = None
            # Spawned with discard=False: one task per event, so it leaves the server's
            # set itself rather than through a done callback (a loop callback fewer).
            self.nsp.server._tasks.discard(asyncio.current_task())

    def _on_close(self, reason: str) -> None:
        """The socket left (any cause). Runs the application's handlers after queued events."""
        if self.state is SocketState.DISCONNECTED or self.state is SocketState.REFUSED:
            return
        was_connected = self.state is SocketState.CONNECTED
        # A socket that never finished connecting runs none of the handlers queued behind it.
        self.state = SocketState.DISCONNECTED if was_connected else SocketState.REFUSED
        nsp = self.nsp
        nsp.sockets.pop(self.id, None)
        self.client.sockets.pop(nsp.name, None)
        acks, self._acks = self._acks, None
        if acks:
            for callback in acks.values():
                callback(self.id, None)
        if not was_connected:
            nsp.adapter.delete_all(self.id)
            return
        logger.debug("sid=%s left %s: %s", self.id, nsp.name, reason)
        journal = nsp.server._journal
        if journal is not None and self.pid is not None:
            record = journal.session_record(self, time.time())
            nsp.server._spawn(journal.keep_or_forget(record, reason))
        # Leave the rooms now: no broadcast reaches it any more, and a recovered successor
        # with the same id may take them back before the handlers below have run.
        self._left_rooms = self.rooms
        nsp.adapter.delete_all(self.id)
        self._schedule(lambda: self._run_disconnect(reason))

    async def _run_disconnect(self, reason: str) -> None:
        nsp = self.nsp
        try:
            handler = nsp.handlers.get("disconnecting")
            if handler is not None:
                await call_maybe_async(handler, self, reason)
        except Exception:
            logger.exception("sid=%s disconnecting handler failed", self.id)
        try:
            handler = nsp.handlers.get("disconnect")
            if handler is not None:
                await call_maybe_async(handler, self, reason)
        except Exception:
            logger.exception("sid=%s disconnect handler failed", self.id)

    def __repr__(self) -> str:
        return f"<Socket {self.id} {self.nsp.name} {self.state.value}>"


class HeldConnection:
    """Stands in for the engine connection while a socket is connecting."""

    __slots__ = ("_items",)

    writable = True

    def __init__(self) -> None:
        self._items: list[str | bytes | PreparedMessage] = []

    def send(self, data: str | bytes) -> None:
        self._items.append(data)

    def send_prepared(self, prepared: PreparedMessage) -> None:
        self._items.append(prepared)

    def release_to(self, conn: EngineSocket) -> None:
        items, self._items = self._items, []
        for item in items:
            if isinstance(item, (str, bytes)):
                conn.send(item)
            else:
                conn.send_prepared(item)

