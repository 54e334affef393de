"""How a socket's packets leave: written now, or held while the socket connects."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Protocol

from tidings.adapters.base import prepare_packet
from tidings.errors import AckTimeoutError
from tidings.ids import Room, Sid
from tidings.protocol.prepared import PreparedMessage
from tidings.protocol.socketio import JsonParser, Packet, encode
from tidings.server.operators import BroadcastOperator, BroadcastTarget

if TYPE_CHECKING:
    from tidings.adapters.base import LocalConnection, SlowConsumer
    from tidings.protocol.socketio import Parser

logger = logging.getLogger("tidings.server")

__all__ = ["Ack", "EmitMethods", "EmitModifiers", "HeldConnection", "short_ack", "write_packet"]


def write_packet(
    writer: LocalConnection,
    packet: Packet,
    parser: Parser,
    compress: bool = True,
    slow_consumer: SlowConsumer = "disconnect",
) -> None:
    """Encode ``packet`` and send its messages (text, then any binary attachment), in order.

    The default parser's encoder is called directly: what ``JsonParser.encode`` does, minus a
    call and a tuple, which an emit to one socket feels (about 60 ns of 1 us).
    ``compress=False`` sends it as a message marked never to be compressed; a
    ``slow_consumer`` policy other than "disconnect" as one marked with what it allows."""
    if not compress or slow_consumer != "disconnect":
        writer.send_prepared(prepare_packet(packet, parser, compress, slow_consumer))
        return
    if type(parser) is JsonParser:
        encoded = encode(packet, parser.serializer)
        writer.send(encoded.text)
        for attachment in encoded.attachments:
            writer.send(attachment)
        return
    for message in parser.encode(packet):
        writer.send(message)


class HeldConnection:
    """Stands in for the engine connection while a socket is connecting."""

    __slots__ = ("_conn", "_items")

    def __init__(self) -> None:
        self._items: list[str | bytes | PreparedMessage] = []
        self._conn: LocalConnection | None = None

    @property
    def writable(self) -> bool:
        """While connecting, what is sent waits for the CONNECT, so it is taken. From the
        CONNECT until the socket goes live a turn later, the connection's own answer: an
        emit in that turn (common with an eager task factory) is volatile as any other."""
        conn = self._conn
        return conn is None or conn.writable

    def accepted(self, conn: LocalConnection) -> None:
        """The CONNECT went to ``conn``: volatile emits ask it from now on."""
        self._conn = conn

    def send(self, data: str | bytes) -> None:
        self._items.append(data)

    def send_prepared(self, prepared: PreparedMessage) -> None:
        self._items.append(prepared)

    def release_to(self, conn: LocalConnection) -> None:
        """Send what was held to ``conn``, in order (called by the socket once it is live)."""
        items, self._items = self._items, []
        for item in items:
            if isinstance(item, (str, bytes)):
                conn.send(item)
            else:
                conn.send_prepared(item)


class ModifiedTarget(Protocol):
    """The socket an ``EmitModifiers`` sends to (``tidings.Socket``)."""

    @property
    def writer(self) -> LocalConnection: ...

    async def emit(
        self, event: str, *args: Any, volatile: bool = False, compress: bool = True
    ) -> None: ...

    async def emit_with_ack(
        self, event: str, *args: Any, timeout: float | None = None, compress: bool = True
    ) -> Any: ...


class EmitModifiers:
    """Flags for an emit to one socket: ``socket.volatile``, ``socket.timeout(s)`` and
    ``socket.compress(flag)``, which in Node act on that socket (a broadcast starts with
    ``socket.broadcast``)."""

    __slots__ = ("_compress", "_socket", "_timeout", "_volatile")

    def __init__(
        self,
        socket: ModifiedTarget,
        *,
        volatile: bool = False,
        timeout: float | None = None,
        compress: bool = True,
    ) -> None:
        self._socket = socket
        self._volatile = volatile
        self._timeout = timeout
        self._compress = compress

    @property
    def volatile(self) -> EmitModifiers:
        return EmitModifiers(self._socket, volatile=True, timeout=self._timeout, compress=self._compress)

    def timeout(self, seconds: float) -> EmitModifiers:
        return EmitModifiers(self._socket, volatile=self._volatile, timeout=seconds, compress=self._compress)

    def compress(self, flag: bool) -> EmitModifiers:
        """``compress(False)``: sent uncompressed even over permessage-deflate."""
        return EmitModifiers(self._socket, volatile=self._volatile, timeout=self._timeout, compress=flag)

    async def emit(self, event: str, *args: Any) -> None:
        await self._socket.emit(event, *args, volatile=self._volatile, compress=self._compress)

    async def emit_with_ack(self, event: str, *args: Any) -> Any:
        """The client's ack; ``AckTimeoutError`` after the timeout, or at once when volatile
        and the client cannot take the event now (it is dropped, so no ack can come)."""
        if self._volatile and not self._socket.writer.writable:
            raise AckTimeoutError("volatile event dropped: the client could not take it")
        return await self._socket.emit_with_ack(
            event, *args, timeout=self._timeout, compress=self._compress
        )


class EmitMethods:
    """What ``tidings.Socket`` sends beyond ``emit``, as Node's socket does: broadcasts from
    it (everyone but the sender), modifiers of its next emit, and ``send``."""

    __slots__ = ()

    if TYPE_CHECKING:
        id: Sid
        nsp: BroadcastTarget

        @property
        def writer(self) -> LocalConnection: ...

        async def emit(
            self, event: str, *args: Any, volatile: bool = False, compress: bool = True
        ) -> None: ...

        async def emit_with_ack(
            self, event: str, *args: Any, timeout: float | None = None, compress: bool = True
        ) -> Any: ...

    def _operator(self) -> BroadcastOperator:
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
    def volatile(self) -> EmitModifiers:
        """``await socket.volatile.emit(...)``: to this client, dropped if it cannot take it now."""
        return EmitModifiers(self, volatile=True)

    def timeout(self, seconds: float) -> EmitModifiers:
        """``await socket.timeout(5).emit_with_ack(...)``: ask this client, wait ``seconds``."""
        return EmitModifiers(self, timeout=seconds)

    def compress(self, flag: bool) -> EmitModifiers:
        """``await socket.compress(False).emit(...)``: to this client, never compressed
        (permessage-deflate); ``True`` is the default: compressed when negotiated and at
        least the threshold."""
        return EmitModifiers(self, compress=flag)

    async def send(self, *args: Any) -> None:
        """Send a ``message`` event (Node's ``socket.send``, after ``WebSocket.send``)."""
        await self.emit("message", *args)

    write = send


class AckTarget(Protocol):
    def send_ack(self, ack_id: int, args: list[Any]) -> None: ...


class Ack:
    """Given to a handler that declares a keyword-only ``ack`` parameter: it acknowledges
    the client's event when called (once, from anywhere), or never, as a Node handler
    does with its callback. Its return value is then not an ack."""

    __slots__ = ("_ack_id", "_socket", "called")

    def __init__(self, socket: AckTarget, ack_id: int | None) -> None:
        self._socket = socket
        self._ack_id = ack_id
        self.called = False

    @property
    def expected(self) -> bool:
        """Whether the client asked for an acknowledgement at all."""
        return self._ack_id is not None

    def __call__(self, *args: Any) -> None:
        if self.called:
            logger.warning("ack %s called again: ignored", self._ack_id)
            return
        self.called = True
        if self._ack_id is not None:
            self._socket.send_ack(self._ack_id, list(args))


def short_ack(ack_id: int, args: list[Any], parser: Parser) -> str | None:
    """An ACK on "/" as ``3<id><json>``, written without packet objects (the echo hot path);
    None when ``args`` hold bytes, which need the encoder's BINARY_ACK, or when ``parser`` is
    not the default one. Proven equal to ``encode(Packet(ACK, "/", args, ack_id))`` by
    tests/server/test_fast_paths.py."""
    if type(parser) is not JsonParser:
        return None
    try:
        text: str = "3" + str(ack_id) + parser.serializer.dumps(args)
    except TypeError:
        return None
    return text
