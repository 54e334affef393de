"""One in-memory connection of a test client: its namespaces, packets and acks.

The Socket.IO side of the client, as ``tidings.Client``'s multiplexer is for a
real connection: CONNECT with ``auth`` (and the recovery position), the packets
the server sends routed to each namespace's ``Inbox``, the client's handlers
answering the server's acks, and the acks the test awaits. Packets are encoded
and decoded by the protocol codecs (``tidings.protocol.socketio``), so what
crosses is exactly what a socket would carry.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from tidings.engine.io import HttpRequest
from tidings.errors import AckTimeoutError, ConnectionRefusedError, DisconnectedError
from tidings.protocol.socketio import (
    DecodeError,
    Packet,
    PacketType,
    ack_args,
    ack_value,
)
from tidings.testing.inbox import Inbox, Phase
from tidings.testing.transport import EngineLink

if TYPE_CHECKING:
    from tidings.server import Server

__all__ = ["MemoryConnection"]

logger = logging.getLogger("tidings.testing")


class MemoryConnection:
    """An Engine.IO connection to ``server`` in memory, carrying any number of namespaces."""

    __slots__ = (
        "_acks",
        "_closing",
        "_decoder",
        "_link",
        "_next_ack",
        "_parser",
        "_tasks",
        "errors",
        "inboxes",
        "server",
    )

    def __init__(self, server: Server, request: HttpRequest) -> None:
        self.server = server
        # The server's own codec: a test client speaks whatever ``parser=`` the server uses.
        self._parser = server.parser
        self._decoder = server.parser.decoder(server.options.decoder_limits)
        self._link = EngineLink(
            server.engine, request, on_message=self._receive, on_close=self._link_closed
        )
        self.inboxes: dict[str, Inbox] = {}
        self._acks: dict[int, tuple[str, asyncio.Future[list[Any]]]] = {}
        self._next_ack = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False
        self.errors: list[BaseException] = []
        """Exceptions raised by the client's own handlers, raised again when the test ends."""

    @property
    def open(self) -> bool:
        return self._link.open

    @property
    def engine_sid(self) -> str | None:
        return self._link.sid

    def start(self) -> None:
        """Open the Engine.IO session (``ConnectionRefusedError`` if the engine refuses)."""
        self._link.start()

    # -- namespaces ------------------------------------------------------------------------

    async def join(self, name: str, auth: dict[str, Any] | None, timeout: float,
                   recover: Inbox | None = None) -> Inbox:
        """Connect ``name``; ``ConnectionRefusedError`` with the server's message and data
        if refused. With ``recover``, offer that namespace's recovery position."""
        if not name.startswith("/"):
            raise ValueError(f"a namespace starts with '/': {name!r}")
        old = self.inboxes.get(name)
        if old is not None and old.phase in (Phase.CONNECTING, Phase.CONNECTED):
            raise RuntimeError(f"namespace {name} is already connected on this client")
        if not self.open:
            raise DisconnectedError(f"the connection is closed ({self._link.close_reason})")
        inbox = self.inboxes[name] = Inbox(name, auth)
        payload = auth
        if recover is not None and recover.pid is not None:
            inbox.pid = recover.pid
            payload = {"pid": recover.pid, **({"offset": recover.offset} if recover.offset else {})}
            payload.update(auth or {})
        if payload is not None and not isinstance(payload, dict):
            raise TypeError(f"auth must be a dict, not {type(payload).__name__}")
        self.send(Packet(PacketType.CONNECT, name, payload))
        await inbox.until(lambda: inbox.phase is not Phase.CONNECTING, "connected", timeout)
        if inbox.phase is Phase.REFUSED:
            assert inbox.refusal is not None
            raise ConnectionRefusedError(*inbox.refusal)
        if inbox.phase is Phase.DISCONNECTED:
            raise ConnectionRefusedError(f"disconnected while connecting ({inbox.reason})")
        return inbox

    def leave(self, name: str, reason: str = "io client disconnect") -> None:
        """Leave ``name`` (a DISCONNECT packet); the connection closes with its last namespace,
        as socket.io-client's Manager closes."""
        inbox = self.inboxes.get(name)
        if inbox is not None and inbox.phase is Phase.CONNECTED:
            self.send(Packet(PacketType.DISCONNECT, name))
            self._close_namespace(inbox, reason)
        if not any(i.phase is Phase.CONNECTED for i in self.inboxes.values()):
            self.close()

    def close(self) -> None:
        """Leave every namespace and close the connection."""
        if self._closing:
            return
        self._closing = True
        for inbox in self.inboxes.values():
            if inbox.phase is Phase.CONNECTED and self.open:
                self.send(Packet(PacketType.DISCONNECT, inbox.name))
            self._close_namespace(inbox, "io client disconnect")
        if self.open:
            self._link.close()

    def abort(self) -> None:
        """The connection is lost, as a network failure loses it."""
        if self.open:
            self._link.abort()

    async def finish(self, timeout: float) -> None:
        """Close, and let the client's own handler tasks end (cancelled after ``timeout``)."""
        self.close()
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=timeout)
            for task in pending:
                task.cancel()

    # -- sending ---------------------------------------------------------------------------

    def send(self, packet: Packet) -> None:
        """The one way out: the packet's messages (text, then each binary attachment)."""
        link = self._link
        for message in self._parser.encode(packet):
            link.send(message)

    def emit(self, name: str, event: str, args: tuple[Any, ...]) -> None:
        self._check_connected(name)
        self.send(Packet(PacketType.EVENT, name, [event, *args]))

    async def emit_with_ack(self, name: str, event: str, args: tuple[Any, ...], timeout: float) -> Any:
        """Send an event and return the server's ack, shaped as ``tidings.Client`` shapes it."""
        self._check_connected(name)
        ack_id = self._next_ack
        self._next_ack += 1
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self._acks[ack_id] = (name, future)
        try:
            self.send(Packet(PacketType.EVENT, name, [event, *args], ack_id))
            async with asyncio.timeout(timeout):
                reply = await future
        except TimeoutError:
            raise AckTimeoutError(f"no ack for {event!r} on {name} within {timeout}s") from None
        finally:
            self._acks.pop(ack_id, None)
        return ack_value(reply)

    def _check_connected(self, name: str) -> None:
        inbox = self.inboxes.get(name)
        if inbox is None or inbox.phase is not Phase.CONNECTED or not self.open:
            reason = inbox.reason if inbox is not None else "never connected"
            raise DisconnectedError(f"namespace {name} is not connected ({reason})")

    # -- receiving -------------------------------------------------------------------------

    def _receive(self, data: str | bytes) -> None:
        try:
            packet = self._decoder.receive(data)
        except DecodeError as exc:
            self.errors.append(AssertionError(f"the server sent a malformed packet: {exc}"))
            self.abort()
            return
        if packet is None:
            return
        inbox = self.inboxes.get(packet.namespace)
        if inbox is None:
            return
        ptype = packet.type
        if ptype is PacketType.EVENT:
            if inbox.phase is Phase.CONNECTED or inbox.phase is Phase.CONNECTING:
                self._event(inbox, packet)
        elif ptype is PacketType.ACK:
            entry = self._acks.get(packet.id) if packet.id is not None else None
            if entry is not None and entry[0] == inbox.name and not entry[1].done():
                entry[1].set_result(list(packet.data))
        elif ptype is PacketType.CONNECT:
            self._connected(inbox, packet.data)
        elif ptype is PacketType.CONNECT_ERROR:
            data = packet.data
            if isinstance(data, dict):
                inbox.refusal = (str(data.get("message", "")), data.get("data"))
            else:
                inbox.refusal = (str(data), None)
            inbox.set_phase(Phase.REFUSED)
        elif ptype is PacketType.DISCONNECT and inbox.phase is Phase.CONNECTED:
            self._close_namespace(inbox, "io server disconnect")
            if not any(i.phase is Phase.CONNECTED for i in self.inboxes.values()):
                self.close()

    def _connected(self, inbox: Inbox, data: Any) -> None:
        if inbox.phase is not Phase.CONNECTING:
            return
        if not isinstance(data, dict) or not isinstance(data.get("sid"), str):
            inbox.refusal = (f"invalid CONNECT reply: {data!r}", None)
            inbox.set_phase(Phase.REFUSED)
            return
        pid = data.get("pid")
        pid = pid if isinstance(pid, str) else None
        inbox.recovered = pid is not None and pid == inbox.pid
        inbox.pid = pid
        inbox.sid = data["sid"]
        inbox.set_phase(Phase.CONNECTED)

    def _event(self, inbox: Inbox, packet: Packet) -> None:
        event, args = packet.data[0], tuple(packet.data[1:])
        inbox.add(event, args)
        handler = inbox.handlers.get(event)
        if handler is not None:
            call_args = args
        else:
            handler = inbox.handlers.get("*")
            call_args = (event, *args)
        if handler is None:
            return  # recorded only; an ack the server asked for is never sent
        try:
            result = handler(*call_args)
        except Exception as exc:
            self._handler_failed(inbox, event, exc)
            return
        if inspect.isawaitable(result):
            self._spawn(self._answer_later(inbox, event, result, packet.id))
        elif packet.id is not None:
            self._answer(inbox, packet.id, result)

    async def _answer_later(self, inbox: Inbox, event: str, result: Any, ack_id: int | None) -> None:
        try:
            value = await result
        except Exception as exc:
            self._handler_failed(inbox, event, exc)
            return
        if ack_id is not None:
            self._answer(inbox, ack_id, value)

    def _answer(self, inbox: Inbox, ack_id: int, result: Any) -> None:
        if inbox.phase is Phase.CONNECTED and self.open:
            self.send(Packet(PacketType.ACK, inbox.name, ack_args(result), ack_id))

    def _handler_failed(self, inbox: Inbox, event: str, exc: Exception) -> None:
        logger.error("the test client's handler for %r on %s failed", event, inbox.name, exc_info=exc)
        self.errors.append(exc)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _close_namespace(self, inbox: Inbox, reason: str) -> None:
        if inbox.phase is Phase.CONNECTED or inbox.phase is Phase.CONNECTING:
            inbox.set_phase(Phase.DISCONNECTED, reason)
        for ack_id, (name, future) in list(self._acks.items()):
            if name == inbox.name and not future.done():
                future.set_exception(DisconnectedError(f"namespace {name} disconnected ({reason})"))
                del self._acks[ack_id]

    def _link_closed(self, reason: str) -> None:
        for inbox in self.inboxes.values():
            self._close_namespace(inbox, reason)

