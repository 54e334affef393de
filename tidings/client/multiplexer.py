"""The namespaces a client multiplexes on its one Engine.IO connection.

This is the client's Socket.IO side: each namespace's CONNECT (with ``auth``
and the connection-state-recovery position), the packets the server sends,
the acknowledgements awaited, the offline buffers and retry queues, and the
one path by which every packet goes out (``_write``: the messages the parser made
of it; events pass ``_send_event`` first, for the outgoing listeners).
The ``Client`` owns the connection itself: it attaches each new one here and
says when it was lost.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from tidings.client.acks import PendingAcks
from tidings.client.arguments import Auth, resolve_auth
from tidings.client.dispatch import Dispatcher
from tidings.client.engine import EngineConnection
from tidings.client.errors import (
    AckTimeoutError,
    ConnectError,
    DisconnectedError,
    OfflineBufferFullError,
)
from tidings.client.namespace import ClientNamespace, NamespaceState
from tidings.client.options import ClientOptions
from tidings.client.retries import OutgoingEvent, QueuedEmit, RetryQueue
from tidings.protocol.socketio import (
    DecodeError,
    Packet,
    PacketDecoder,
    PacketType,
    Parser,
    ack_args,
    ack_value,
)

__all__ = ["NamespaceMultiplexer"]

logger = logging.getLogger("tidings.client")


class NamespaceMultiplexer:
    """Every namespace of one client, and the connection they currently ride on.

    It reports back through callbacks, so it needs nothing else of the client:
    ``spawn`` runs a coroutine as one of the client's tasks, ``lose_connection``
    drops a connection that sent a malformed packet, and
    ``namespace_closed(refused)`` says the server refused or closed a namespace.
    """

    __slots__ = (
        "_acks",
        "_decoder",
        "_engine",
        "_lose_connection",
        "_namespace_closed",
        "_namespaces",
        "_options",
        "_parser",
        "_spawn",
        "dispatcher",
    )

    def __init__(
        self,
        options: ClientOptions,
        parser: Parser,
        *,
        spawn: Callable[[Coroutine[Any, Any, None]], object],
        lose_connection: Callable[[str], None],
        namespace_closed: Callable[[bool], None],
    ) -> None:
        self._options = options
        self._parser = parser
        self._spawn = spawn
        self._lose_connection = lose_connection
        self._namespace_closed = namespace_closed
        #: The application's handlers; the client registers them here and runs its queue.
        self.dispatcher = Dispatcher(self._send_ack)
        self._namespaces: dict[str, ClientNamespace] = {}
        self._acks = PendingAcks()
        self._engine: EngineConnection | None = None
        self._decoder: PacketDecoder | None = None

    # -- what the client reads -------------------------------------------------------

    @property
    def engine(self) -> EngineConnection | None:
        """The connection attached, if any; read by the client."""
        return self._engine

    def engine_sid(self) -> str | None:
        """The Engine.IO session id, for log lines; called by the client."""
        return self._engine.sid if self._engine is not None else None

    def get(self, name: str) -> ClientNamespace | None:
        """The namespace ``name`` given to the last ``want``; called by the client."""
        return self._namespaces.get(name)

    def connected_names(self) -> tuple[str, ...]:
        """The namespaces connected now; called by the client."""
        return tuple(
            n for n, ns in self._namespaces.items() if ns.state is NamespaceState.CONNECTED
        )

    def any_active(self) -> bool:
        """Whether some namespace is still wanted; called by the client."""
        return any(ns.active for ns in self._namespaces.values())

    def active_names(self) -> tuple[str, ...]:
        """The namespaces still wanted; called by the client."""
        return tuple(n for n, ns in self._namespaces.items() if ns.active)

    # -- what the client commands ----------------------------------------------------

    def want(self, names: list[str], auth: Auth) -> None:
        """Start afresh with these namespaces, none connected; called by ``Client.connect``."""
        self._namespaces = {name: self._new_namespace(name, auth) for name in dict.fromkeys(names)}

    def add(self, name: str, auth: Auth) -> ClientNamespace:
        """One more namespace, waiting for a CONNECT; called by ``Client.connect_namespace``."""
        ns = self._namespaces[name] = self._new_namespace(name, auth)
        return ns

    def waiter_of(self, ns: ClientNamespace) -> asyncio.Future[None]:
        """The future done when the server answers ``ns``'s next (or current) CONNECT."""
        if ns.waiter is None or ns.waiter.done():
            ns.waiter = asyncio.get_running_loop().create_future()
            ns.waiter.add_done_callback(_retrieve)
        return ns.waiter

    def _new_namespace(self, name: str, auth: Auth) -> ClientNamespace:
        ns = ClientNamespace(name, auth)
        if self._options.retries:
            limit = self._options.max_offline_packets
            ns.retry = RetryQueue(
                self._options.retries, limit, lambda entry: self._send_event(ns, entry.message)
            )
        return ns

    def attach(self, engine: EngineConnection) -> None:
        """A new connection carries the namespaces; called by the client before opening it."""
        self._decoder = self._parser.decoder(self._options.decoder_limits)
        self._engine = engine

    def detach(self) -> EngineConnection | None:
        """Nothing carries the namespaces any more; called by the client. Returns what did."""
        engine = self._engine
        self._engine = None
        return engine

    def connect_waiting(self) -> list[asyncio.Future[None]]:
        """Send a CONNECT for each namespace waiting for one; called by the client.

        Returns a future per namespace, done when the server answers.
        """
        waiters = []
        for ns in self._namespaces.values():
            if ns.state is NamespaceState.WAITING:
                waiters.append(self.waiter_of(ns))
                ns.set_state(NamespaceState.CONNECTING)
                self._spawn(self._send_connect(ns))
        return waiters

    def connection_lost(self, reason: str) -> None:
        """The connection is gone: every wanted namespace waits for the next one.

        Called by the client. Acks of emits already sent fail; buffered emits stay.
        """
        for ns in self._namespaces.values():
            if not ns.active:
                continue
            was_connected = ns.state is NamespaceState.CONNECTED
            ns.set_state(NamespaceState.WAITING)
            if ns.retry is not None:
                ns.retry.pause()
            self._acks.fail_namespace(ns.name, keep=ns.buffered_ack_ids())
            if was_connected:
                self.dispatcher.fire(ns.name, "disconnect", reason)

    def fail_waiters(self, reason: str) -> None:
        """Fail the CONNECTs unanswered; called by the client losing ``connect()``'s connection."""
        for ns in self._namespaces.values():
            if ns.waiter is not None and not ns.waiter.done():
                ns.waiter.set_exception(ConnectError(reason))

    def announce_connect_error(self, error: ConnectError) -> None:
        """``connect_error`` for each wanted namespace; called when a connection fails to open."""
        for ns in self._namespaces.values():
            if ns.active:
                self.dispatcher.fire(ns.name, "connect_error", error)

    def close_all(self, reason: str, *, notify: bool) -> None:
        """Leave every namespace for good (a DISCONNECT for those connected); called by the client.

        With ``notify`` a connected namespace's ``disconnect`` handler gets ``reason``.
        """
        for ns in list(self._namespaces.values()):
            self.leave(ns, reason if notify else None)

    def leave(self, ns: ClientNamespace, reason: str | None) -> None:
        """Leave ``ns`` for good, with a DISCONNECT if connected; by the client.

        Its ``disconnect`` handler gets ``reason`` if it was connected and one is given.
        """
        was_connected = ns.state is NamespaceState.CONNECTED
        if was_connected and self._engine is not None:
            self._write(self._parser.encode(Packet(PacketType.DISCONNECT, ns.name)))
        self._close(ns, reason if was_connected else None)

    # -- sending ---------------------------------------------------------------------

    def emit(
        self, ns: ClientNamespace, event: str, args: tuple[Any, ...], *, volatile: bool = False
    ) -> None:
        """Send an event, or keep it until ``ns`` connects; called by ``Client.emit``.

        Volatile: sent only if ``ns`` is connected now, else dropped. With
        ``retries`` (and not volatile), queued for at-least-once delivery.
        """
        if ns.retry is not None and not volatile:
            self._queue(ns, event, args, self._options.ack_timeout, wanted=False)
            return
        message = self._outgoing(ns, event, args, None)
        if self._send_event(ns, message) or volatile:
            return
        self._buffer(ns, message)

    async def emit_with_ack(
        self, ns: ClientNamespace, event: str, args: tuple[Any, ...], timeout: float
    ) -> Any:
        """Send an event and return its ack's value; called by ``Client.emit_with_ack``.

        With ``retries``, ``timeout`` is the wait of each try.
        """
        if ns.retry is not None:
            return ack_value(await self._queue(ns, event, args, timeout, wanted=True))
        ack_id, future = self._acks.create(ns.name)
        try:
            message = self._outgoing(ns, event, args, ack_id)
            if not self._send_event(ns, message):
                self._buffer(ns, message)
            async with asyncio.timeout(timeout):
                reply = await future
        except TimeoutError:
            raise AckTimeoutError() from None
        finally:
            self._acks.discard(ack_id)
            ns.unbuffer(ack_id)
        return ack_value(reply)

    def _outgoing(
        self, ns: ClientNamespace, event: str, args: tuple[Any, ...], ack_id: int | None
    ) -> OutgoingEvent:
        packet = Packet(PacketType.EVENT, ns.name, [event, *args], ack_id)
        return OutgoingEvent(event, args, self._parser.encode(packet), ack_id)

    def _buffer(self, ns: ClientNamespace, message: OutgoingEvent) -> None:
        limit = self._options.max_offline_packets
        if len(ns.buffer) >= limit:
            raise OfflineBufferFullError(f"offline buffer of {ns.name} is full ({limit} packets)")
        ns.buffer.append(message)

    def _queue(
        self,
        ns: ClientNamespace,
        event: str,
        args: tuple[Any, ...],
        timeout: float,
        *,
        wanted: bool,
    ) -> asyncio.Future[list[Any]]:
        """Into ``ns``'s retry queue; ``wanted``: someone awaits the answer (else it is logged)."""
        assert ns.retry is not None
        ack_id, future = self._acks.create(ns.name)
        try:
            ns.retry.push(QueuedEmit(self._outgoing(ns, event, args, ack_id), future, timeout))
        except BaseException:
            self._acks.discard(ack_id)
            raise
        future.add_done_callback(lambda f: self._settled(ack_id, event, f, wanted))
        return future

    def _settled(
        self, ack_id: int, event: str, future: asyncio.Future[list[Any]], wanted: bool
    ) -> None:
        self._acks.discard(ack_id)
        if not wanted and not future.cancelled() and future.exception() is not None:
            logger.warning(
                "sid=%s emit of %r not acknowledged: %r",
                self.engine_sid(),
                event,
                future.exception(),
            )

    def _send_event(self, ns: ClientNamespace, message: OutgoingEvent) -> bool:
        """Write an event if ``ns`` is connected, and tell the outgoing listeners; else False."""
        if ns.state is not NamespaceState.CONNECTED or self._engine is None:
            return False
        self._write(message.encoded)
        self.dispatcher.outgoing(ns.name, message.event, message.args)
        return True

    def _write(self, messages: tuple[str | bytes, ...]) -> None:
        """The one way out: the packet's messages (text, then each attachment), in order."""
        engine = self._engine
        if engine is None:
            return
        for message in messages:
            engine.send(message)

    async def _send_connect(self, ns: ClientNamespace) -> None:
        try:
            payload = ns.connect_payload(await resolve_auth(ns.auth))
            packet = self._parser.encode(Packet(PacketType.CONNECT, ns.name, payload))
        except Exception as exc:
            logger.exception("could not make the CONNECT for %s", ns.name)
            if ns.waiter is not None and not ns.waiter.done():
                ns.waiter.set_exception(ConnectError(f"auth failed: {exc}"))
            return
        if ns.state is NamespaceState.CONNECTING:
            self._write(packet)

    def _send_ack(self, namespace: str, ack_id: int, result: Any) -> None:
        ns = self._namespaces.get(namespace)
        if ns is None or ns.state is not NamespaceState.CONNECTED:
            return
        args = ack_args(result)
        try:
            encoded = self._parser.encode(Packet(PacketType.ACK, namespace, args, ack_id))
        except (TypeError, ValueError):
            logger.exception("could not encode the ack for %s (namespace %s)", ack_id, namespace)
            return
        self._write(encoded)

    # -- receiving -------------------------------------------------------------------

    def receive(self, data: str | bytes) -> None:
        """A message from the attached connection; its ``on_message`` callback."""
        decoder = self._decoder
        assert decoder is not None
        try:
            packet = decoder.receive(data)
        except DecodeError as exc:
            logger.warning("sid=%s malformed packet from the server: %s", self.engine_sid(), exc)
            self._lose_connection("parse error")
            return
        if packet is None:
            return
        ns = self._namespaces.get(packet.namespace)
        if ns is None or not ns.active:
            return
        ptype = packet.type
        if ptype is PacketType.EVENT:
            if ns.state is NamespaceState.CONNECTED:
                self._on_event(ns, packet)
            elif ns.state is NamespaceState.CONNECTING:
                # A recovering server replays missed events before its CONNECT reply.
                if len(ns.received) < self._options.max_offline_packets:
                    ns.received.append(packet)
                else:
                    logger.warning("sid=%s event before CONNECT dropped", self.engine_sid())
        elif ptype is PacketType.ACK:
            self._acks.resolve(ns.name, packet.id, list(packet.data))
        elif ptype is PacketType.CONNECT:
            self._on_connect(ns, packet.data)
        elif ptype is PacketType.CONNECT_ERROR:
            self._on_connect_error(ns, packet.data)
        elif ptype is PacketType.DISCONNECT:
            logger.info("sid=%s server closed namespace %s", self.engine_sid(), ns.name)
            self._close(ns, "io server disconnect")
            self._namespace_closed(False)

    def _on_connect(self, ns: ClientNamespace, data: Any) -> None:
        if ns.state is not NamespaceState.CONNECTING:
            return
        if type(data) is not dict or type(data.get("sid")) is not str:
            self._on_connect_error(
                ns, {"message": "invalid CONNECT reply (a Socket.IO v2 server?)"}
            )
            return
        pid = data.get("pid")
        ns.on_connected(data["sid"], pid if type(pid) is str else None)
        logger.info(
            "sid=%s namespace %s connected as %s%s",
            self.engine_sid(),
            ns.name,
            ns.sid,
            " (recovered)" if ns.recovered else "",
        )
        received = list(ns.received)
        ns.received.clear()
        for event in received:  # before "connect", as socket.io-client does
            self._on_event(ns, event)
        buffered = list(ns.buffer)
        ns.buffer.clear()
        for message in buffered:
            self._send_event(ns, message)
        if ns.retry is not None:
            ns.retry.resume()
        if ns.waiter is not None and not ns.waiter.done():
            ns.waiter.set_result(None)
        self.dispatcher.fire(ns.name, "connect")

    def _on_connect_error(self, ns: ClientNamespace, data: Any) -> None:
        if type(data) is dict:
            error = ConnectError(str(data.get("message", "connection refused")), data.get("data"))
        else:
            error = ConnectError(str(data))
        logger.info("sid=%s namespace %s refused: %s", self.engine_sid(), ns.name, error.message)
        waiter = ns.waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)
        self._close(ns, None)
        self.dispatcher.fire(ns.name, "connect_error", error)
        self._namespace_closed(True)

    def _on_event(self, ns: ClientNamespace, packet: Packet) -> None:
        data = packet.data
        event, args = data[0], tuple(data[1:])
        if len(data) > 1:
            ns.track_offset(data)
        self.dispatcher.event(ns.name, event, args, packet.id)

    def _close(self, ns: ClientNamespace, reason: str | None) -> None:
        """Gone for good: fail its acks and buffered emits; ``disconnect`` handler if ``reason``."""
        ns.set_state(NamespaceState.CLOSED)
        for message in ns.buffer:
            if message.ack_id is not None:
                self._acks.fail(message.ack_id)
        ns.buffer.clear()
        if ns.retry is not None:
            ns.retry.close(DisconnectedError(f"namespace {ns.name} disconnected"))
        self._acks.fail_namespace(ns.name, keep=set())
        if ns.waiter is not None and not ns.waiter.done():
            ns.waiter.set_exception(ConnectError(f"namespace {ns.name} closed before connecting"))
        if reason is not None:
            self.dispatcher.fire(ns.name, "disconnect", reason)


def _retrieve(future: asyncio.Future[None]) -> None:
    """Mark a waiter's exception seen: nobody may await it (a reconnection's CONNECT)."""
    if not future.cancelled():
        future.exception()
