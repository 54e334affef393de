"""``tidings.Client``: a Socket.IO client for asyncio.

One Engine.IO connection carries every namespace. The client reconnects on
its own after losing it (exponential backoff with jitter, as socket.io-client's
Manager does, and with the same event names), queues emits made meanwhile in a
bounded offline buffer, and offers the server its connection-state-recovery
position on each new CONNECT.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import random
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import Any, Self, TypeVar, overload

import aiohttp

from tidings.client.dispatch import MANAGER_EVENTS, Dispatcher
from tidings.client.engine import EngineConnection, engine_target
from tidings.client.errors import (
    AckTimeoutError,
    ConnectError,
    DisconnectedError,
    OfflineBufferFullError,
)
from tidings.client.namespace import ClientNamespace, NamespaceState
from tidings.client.options import ClientOptions, backoff_delay
from tidings.protocol.socketio import (
    DecodeError,
    Decoder,
    DecoderLimits,
    EncodedPacket,
    Packet,
    PacketType,
    Serializer,
    ack_args,
    ack_value,
    encode,
)
from tidings.serializers import OrjsonSerializer

__all__ = ["MANAGER_EVENTS", "Client", "ClientState"]

logger = logging.getLogger("tidings.client")

F = TypeVar("F", bound=Callable[..., Any])
Auth = dict[str, Any] | Callable[[], dict[str, Any] | Awaitable[dict[str, Any]]] | None


class ClientState(enum.Enum):
    IDLE = "idle"  # not connected; connect() may be called
    CONNECTING = "connecting"  # connect() in progress
    CONNECTED = "connected"  # an Engine.IO connection is open
    RECONNECTING = "reconnecting"  # lost it; backing off and trying again
    CLOSING = "closing"  # disconnect() in progress


class Client:
    """A Socket.IO client. Handlers may be plain functions or coroutines.

    Usage::

        client = tidings.Client()

        @client.event
        async def chat(text):           # an event from the server; the return value is the ack
            return "thanks"

        async with client:
            await client.connect("http://127.0.0.1:8000")
            reply = await client.emit_with_ack("hello", b"bytes too", timeout=5)
    """

    def __init__(
        self,
        options: ClientOptions | None = None,
        *,
        serializer: Serializer | None = None,
        reconnection: bool | None = None,
        reconnection_attempts: int | None = None,
        reconnection_delay: float | None = None,
        reconnection_delay_max: float | None = None,
        randomization_factor: float | None = None,
        timeout: float | None = None,
        ack_timeout: float | None = None,
        max_offline_packets: int | None = None,
        max_message_size: int | None = None,
        concurrent_events: bool | None = None,
        decoder_limits: DecoderLimits | None = None,
    ) -> None:
        given = {
            "reconnection": reconnection,
            "reconnection_attempts": reconnection_attempts,
            "reconnection_delay": reconnection_delay,
            "reconnection_delay_max": reconnection_delay_max,
            "randomization_factor": randomization_factor,
            "timeout": timeout,
            "ack_timeout": ack_timeout,
            "max_offline_packets": max_offline_packets,
            "max_message_size": max_message_size,
            "concurrent_events": concurrent_events,
            "decoder_limits": decoder_limits,
        }
        overrides = {k: v for k, v in given.items() if v is not None}
        base = options or ClientOptions()
        self.options: ClientOptions = (
            ClientOptions(**{**_fields(base), **overrides}) if overrides else base
        )
        self.serializer: Serializer = serializer or OrjsonSerializer()
        self._dispatcher = Dispatcher(self._send_ack)
        self._state = ClientState.IDLE
        self._namespaces: dict[str, ClientNamespace] = {}
        self._acks: dict[int, tuple[str, asyncio.Future[list[Any]]]] = {}
        self._next_ack = 0
        self._engine: EngineConnection | None = None
        self._decoder: Decoder | None = None
        self._http: aiohttp.ClientSession | None = None
        self._connect_args: dict[str, Any] = {}
        self._auth: Auth = None
        self._reconnect_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._done = asyncio.Event()
        self._done.set()
        self._first_namespace = "/"
        self._random = random.Random()

    # -- registration ----------------------------------------------------------------

    @overload
    def on(self, event: str, handler: None = None, *, namespace: str = "/") -> Callable[[F], F]: ...

    @overload
    def on(self, event: str, handler: F, *, namespace: str = "/") -> F: ...

    def on(self, event: str, handler: F | None = None, *, namespace: str = "/") -> Any:
        """Register ``handler`` for ``event`` (as a decorator when ``handler`` is omitted).

        Server events: the handler gets the event's arguments and its return value
        is the acknowledgement (a tuple for several arguments). ``"*"`` catches
        events that have no handler of their own, with the event name first.
        Lifecycle: ``"connect"`` (no arguments), ``"disconnect"`` (the reason),
        ``"connect_error"`` (a ``ConnectError``), per namespace. Connection:
        ``"reconnect_attempt"`` (attempt number), ``"reconnect"`` (attempts it
        took), ``"reconnect_error"`` (the error), ``"reconnect_failed"``.
        """
        if not isinstance(event, str) or not event:
            raise TypeError("event must be a non-empty str")
        _check_namespace(namespace)

        def register(fn: F) -> F:
            self._dispatcher.register(namespace, event, fn)
            return fn

        if handler is None:
            return register
        return register(handler)

    @overload
    def event(self, fn: F, *, namespace: str = "/") -> F: ...

    @overload
    def event(self, fn: None = None, *, namespace: str = "/") -> Callable[[F], F]: ...

    def event(self, fn: F | None = None, *, namespace: str = "/") -> Any:
        """Register a handler named after the function: ``@client.event async def chat(...)``."""
        if fn is None:
            return lambda f: self.on(f.__name__, f, namespace=namespace)
        return self.on(fn.__name__, fn, namespace=namespace)

    def on_any(self, listener: Callable[..., Any], *, namespace: str = "/") -> None:
        """Call ``listener(event, args)`` for every event the server sends, before its handler."""
        _check_namespace(namespace)
        self._dispatcher.add_any(namespace, listener)

    # -- state -----------------------------------------------------------------------

    @property
    def state(self) -> ClientState:
        return self._state

    @property
    def connected(self) -> bool:
        """Whether the connection is up and at least one namespace connected."""
        return self._state is ClientState.CONNECTED and any(
            ns.state is NamespaceState.CONNECTED for ns in self._namespaces.values()
        )

    @property
    def sid(self) -> str | None:
        """The session id of the first namespace given to ``connect`` (by default ``/``)."""
        return self.get_sid(self._first_namespace)

    def get_sid(self, namespace: str = "/") -> str | None:
        ns = self._namespaces.get(namespace)
        return ns.sid if ns is not None and ns.state is NamespaceState.CONNECTED else None

    @property
    def recovered(self) -> bool:
        """Whether the server restored the first namespace's session on the last (re)connection."""
        return self.is_recovered(self._first_namespace)

    def is_recovered(self, namespace: str = "/") -> bool:
        ns = self._namespaces.get(namespace)
        return ns is not None and ns.recovered

    @property
    def namespaces(self) -> tuple[str, ...]:
        """The namespaces currently connected."""
        return tuple(
            n for n, ns in self._namespaces.items() if ns.state is NamespaceState.CONNECTED
        )

    @property
    def transport(self) -> str | None:
        """``"polling"`` or ``"websocket"`` while connected."""
        return self._engine.transport if self._engine is not None else None

    # -- connecting ------------------------------------------------------------------

    async def connect(
        self,
        url: str,
        namespaces: str | Iterable[str] | None = None,
        auth: Auth = None,
        headers: dict[str, str] | None = None,
        transports: Iterable[str] = ("polling", "websocket"),
        socketio_path: str = "socket.io",
    ) -> None:
        """Connect to ``url`` and join ``namespaces``; raise ``ConnectError`` if that fails.

        ``namespaces`` defaults to the URL's path if it has one, else to every
        namespace a handler was registered for, else ``/``. ``auth`` is a dict,
        or a (possibly async) function returning one, called for each CONNECT.
        ``transports``: the first one opens the connection; ``"websocket"``
        later in the list means upgrading to it, as the JavaScript client does.
        """
        if self._state is not ClientState.IDLE:
            raise RuntimeError(f"connect() while {self._state.value}")
        target = engine_target(url, socketio_path)
        transports = tuple(transports)
        if isinstance(namespaces, str):
            names = [namespaces]
        elif namespaces is not None:
            names = list(namespaces)
        elif target.namespace is not None:
            names = [target.namespace]
        else:
            names = sorted(self._dispatcher.namespaces()) or ["/"]
        for name in names:
            _check_namespace(name)
        if not names:
            raise ValueError("no namespace to connect to")

        self._namespaces = {name: ClientNamespace(name) for name in dict.fromkeys(names)}
        self._first_namespace = names[0]
        self._auth = auth
        self._connect_args = {
            "target": target,
            "headers": dict(headers or {}),
            "transports": transports,
        }
        self._state = ClientState.CONNECTING
        self._done.clear()
        self._dispatcher.start(concurrent=self.options.concurrent_events)
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=self.options.timeout)
            )
        opened = False
        try:
            async with asyncio.timeout(self.options.timeout):
                await self._open_engine()
                opened = True
                await asyncio.gather(*self._connect_namespaces())
            self._state = ClientState.CONNECTED
        except BaseException as exc:
            if isinstance(exc, TimeoutError):
                error: BaseException = ConnectError("timeout: no connection in time")
            elif isinstance(exc, (aiohttp.ClientError, OSError)) and not isinstance(
                exc, ConnectError
            ):
                error = ConnectError(str(exc) or type(exc).__name__)
            else:
                error = exc
            if not opened and isinstance(error, ConnectError):
                for ns in self._namespaces.values():
                    self._dispatcher.fire(ns.name, "connect_error", error)
            await self._shutdown("io client disconnect", notify=False)
            if error is exc:
                raise
            raise error from None

    async def _open_engine(self) -> None:
        args = self._connect_args
        assert self._http is not None
        engine = EngineConnection(
            self._http,
            args["target"],
            transports=args["transports"],
            headers=args["headers"],
            timeout=self.options.timeout,
            max_size=self.options.max_message_size,
            on_message=self._on_message,
            on_close=self._on_engine_close,
        )
        self._decoder = Decoder(self.serializer, self.options.decoder_limits)
        self._engine = engine
        try:
            await engine.open()
        except BaseException:
            self._engine = None
            raise
        logger.info("sid=%s connected over %s", engine.sid, engine.transport)

    def _connect_namespaces(self) -> list[asyncio.Future[None]]:
        loop = asyncio.get_running_loop()
        waiters = []
        for ns in self._namespaces.values():
            if ns.state is NamespaceState.WAITING:
                ns.waiter = loop.create_future()
                waiters.append(ns.waiter)
                ns.waiter.add_done_callback(_retrieve)
                ns.set_state(NamespaceState.CONNECTING)
                self._spawn(self._send_connect(ns))
        return waiters

    async def _send_connect(self, ns: ClientNamespace) -> None:
        auth = self._auth
        try:
            data = auth() if callable(auth) else auth
            if isinstance(data, Awaitable):
                data = await data
            if data is not None and not isinstance(data, dict):
                raise TypeError(f"auth must be a dict, not {type(data).__name__}")
            payload = ns.connect_payload(data)
            packet = encode(Packet(PacketType.CONNECT, ns.name, payload), self.serializer)
        except Exception as exc:
            logger.exception("could not make the CONNECT for %s", ns.name)
            if ns.waiter is not None and not ns.waiter.done():
                ns.waiter.set_exception(ConnectError(f"auth failed: {exc}"))
            return
        if ns.state is NamespaceState.CONNECTING:
            self._send_encoded(packet)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- disconnecting ---------------------------------------------------------------

    async def disconnect(self) -> None:
        """Leave every namespace and close the connection; no reconnection follows."""
        if self._state is ClientState.IDLE:
            return
        if self._state is ClientState.CLOSING:
            if asyncio.current_task() not in self._tasks and not self._dispatcher.in_handler():
                await self.wait()
            return
        await self._shutdown("io client disconnect", notify=True)

    async def wait(self) -> None:
        """Until the client is disconnected for good (by us, the server, or failed reconnection)."""
        await self._done.wait()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.disconnect()

    async def _shutdown(self, reason: str, *, notify: bool) -> None:
        self._state = ClientState.CLOSING
        if self._reconnect_task is not None and self._reconnect_task is not asyncio.current_task():
            self._reconnect_task.cancel()
        self._reconnect_task = None
        for ns in self._namespaces.values():
            was_connected = ns.state is NamespaceState.CONNECTED
            if was_connected and self._engine is not None:
                self._send_encoded(encode(Packet(PacketType.DISCONNECT, ns.name), self.serializer))
            self._close_namespace(ns, reason if was_connected and notify else None)
        engine = self._engine
        self._engine = None
        if engine is not None:
            engine.close()
            await engine.wait_closed()
        await self._dispatcher.stop(self.options.timeout)
        if self._http is not None:
            await self._http.close()
            self._http = None
        self._state = ClientState.IDLE
        self._done.set()

    def _close_namespace(self, ns: ClientNamespace, reason: str | None) -> None:
        """Gone for good: fail its acks and buffered emits; announce ``disconnect`` if ``reason``."""
        ns.set_state(NamespaceState.CLOSED)
        for _packet, ack_id in ns.buffer:
            if ack_id is not None:
                self._fail_ack(ack_id, DisconnectedError(f"namespace {ns.name} disconnected"))
        ns.buffer.clear()
        self._fail_acks(ns, keep_buffered=False)
        if ns.waiter is not None and not ns.waiter.done():
            ns.waiter.set_exception(ConnectError(f"namespace {ns.name} closed before connecting"))
        if reason is not None:
            self._dispatcher.fire(ns.name, "disconnect", reason)

    # -- sending ---------------------------------------------------------------------

    async def emit(self, event: str, *args: Any, namespace: str = "/") -> None:
        """Send an event; while reconnecting it waits in the offline buffer.

        ``bytes`` may appear anywhere in ``args``. Raises ``DisconnectedError`` if
        the namespace is not connected and will not be, ``OfflineBufferFullError``
        if the buffer is full.
        """
        packet = Packet(PacketType.EVENT, namespace, [event, *args])
        self._send_or_buffer(
            self._active_namespace(namespace), encode(packet, self.serializer), None
        )

    async def emit_with_ack(
        self, event: str, *args: Any, timeout: float | None = None, namespace: str = "/"
    ) -> Any:
        """Send an event and return the server's acknowledgement.

        One ack argument comes back as itself, several as a tuple, none as
        ``None``. Raises ``AckTimeoutError`` after ``timeout`` seconds (by default
        ``options.ack_timeout``), ``DisconnectedError`` if the connection is lost
        after the event was sent (an event still in the offline buffer waits).
        """
        ns = self._active_namespace(namespace)
        ack_id = self._next_ack
        self._next_ack += 1
        packet = Packet(PacketType.EVENT, namespace, [event, *args], ack_id)
        encoded = encode(packet, self.serializer)
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self._acks[ack_id] = (namespace, future)
        try:
            self._send_or_buffer(ns, encoded, ack_id)
            async with asyncio.timeout(
                timeout if timeout is not None else self.options.ack_timeout
            ):
                reply = await future
        except TimeoutError:
            raise AckTimeoutError() from None
        finally:
            self._acks.pop(ack_id, None)
            if ns.buffer and any(a == ack_id for _, a in ns.buffer):
                ns.buffer = deque(item for item in ns.buffer if item[1] != ack_id)
        return ack_value(reply)

    def _active_namespace(self, namespace: str) -> ClientNamespace:
        ns = self._namespaces.get(namespace)
        if ns is None or not ns.active or self._state in (ClientState.IDLE, ClientState.CLOSING):
            raise DisconnectedError(f"namespace {namespace} is not connected")
        return ns

    def _send_or_buffer(
        self, ns: ClientNamespace, encoded: EncodedPacket, ack_id: int | None
    ) -> None:
        if ns.state is NamespaceState.CONNECTED and self._engine is not None:
            self._send_encoded(encoded)
            return
        if len(ns.buffer) >= self.options.max_offline_packets:
            raise OfflineBufferFullError(
                f"offline buffer of {ns.name} is full ({self.options.max_offline_packets} packets)"
            )
        ns.buffer.append((encoded, ack_id))

    def _send_encoded(self, encoded: EncodedPacket) -> None:
        engine = self._engine
        if engine is None:
            return
        engine.send(encoded.text)
        for attachment in encoded.attachments:
            engine.send(attachment)

    # -- receiving -------------------------------------------------------------------

    def _on_message(self, data: str | bytes) -> None:
        decoder = self._decoder
        assert decoder is not None
        try:
            packet = decoder.receive(data)
        except DecodeError as exc:
            logger.warning("sid=%s malformed packet from the server: %s", self._engine_sid(), exc)
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
                if len(ns.received) < self.options.max_offline_packets:
                    ns.received.append(packet)
                else:
                    logger.warning("sid=%s event before CONNECT dropped", self._engine_sid())
        elif ptype is PacketType.ACK:
            entry = self._acks.get(packet.id) if packet.id is not None else None
            if entry is not None and entry[0] == ns.name and not entry[1].done():
                entry[1].set_result(list(packet.data))
        elif ptype is PacketType.CONNECT:
            self._on_connect(ns, packet.data)
        elif ptype is PacketType.CONNECT_ERROR:
            self._on_connect_error(ns, packet.data)
        elif ptype is PacketType.DISCONNECT:
            logger.info("sid=%s server closed namespace %s", self._engine_sid(), ns.name)
            self._close_namespace(ns, "io server disconnect")
            self._close_if_unused()

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
            self._engine_sid(),
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
        for encoded, _ack_id in buffered:
            self._send_encoded(encoded)
        if ns.waiter is not None and not ns.waiter.done():
            ns.waiter.set_result(None)
        self._dispatcher.fire(ns.name, "connect")

    def _on_connect_error(self, ns: ClientNamespace, data: Any) -> None:
        if type(data) is dict:
            error = ConnectError(str(data.get("message", "connection refused")), data.get("data"))
        else:
            error = ConnectError(str(data))
        logger.info("sid=%s namespace %s refused: %s", self._engine_sid(), ns.name, error.message)
        waiter = ns.waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)
        self._close_namespace(ns, None)
        self._dispatcher.fire(ns.name, "connect_error", error)
        if self._state is not ClientState.CONNECTING:
            self._close_if_unused()

    def _on_event(self, ns: ClientNamespace, packet: Packet) -> None:
        data = packet.data
        event, args = data[0], tuple(data[1:])
        if len(data) > 1:
            ns.track_offset(data)
        self._dispatcher.event(ns.name, event, args, packet.id)

    def _send_ack(self, namespace: str, ack_id: int, result: Any) -> None:
        ns = self._namespaces.get(namespace)
        if ns is None or ns.state is not NamespaceState.CONNECTED:
            return
        args = ack_args(result)
        try:
            encoded = encode(Packet(PacketType.ACK, namespace, args, ack_id), self.serializer)
        except (TypeError, ValueError):
            logger.exception("could not encode the ack for %s (namespace %s)", ack_id, namespace)
            return
        self._send_encoded(encoded)

    # -- the connection lost, and found again ----------------------------------------

    def _on_engine_close(self, reason: str, detail: str) -> None:
        if self._state is ClientState.CLOSING or self._engine is None:
            return
        logger.info("sid=%s connection lost: %s %s", self._engine_sid(), reason, detail)
        self._engine = None
        self._lose_namespaces(reason)

    def _lose_connection(self, reason: str) -> None:
        """We are dropping the connection ourselves (a malformed packet): as if it broke."""
        engine = self._engine
        if engine is None:
            return
        self._engine = None
        engine.close()
        self._lose_namespaces(reason)

    def _lose_namespaces(self, reason: str) -> None:
        for ns in self._namespaces.values():
            if not ns.active:
                continue
            was_connected = ns.state is NamespaceState.CONNECTED
            ns.set_state(NamespaceState.WAITING)
            self._fail_acks(ns, keep_buffered=True)
            if was_connected:
                self._dispatcher.fire(ns.name, "disconnect", reason)
        if self._state is ClientState.CONNECTING:
            for ns in self._namespaces.values():
                if ns.waiter is not None and not ns.waiter.done():
                    ns.waiter.set_exception(ConnectError(reason))
            return
        if self.options.reconnection and any(ns.active for ns in self._namespaces.values()):
            self._state = ClientState.RECONNECTING
            if self._reconnect_task is None:  # else the running loop sees the loss itself
                self._reconnect_task = self._spawn(self._reconnect())
        else:
            self._state = ClientState.CLOSING
            self._spawn(self._shutdown(reason, notify=False))

    def _close_if_unused(self) -> None:
        """No namespace left wanted (the server refused or dropped them): close for good."""
        if self._state is ClientState.CLOSING or any(ns.active for ns in self._namespaces.values()):
            return
        self._state = ClientState.CLOSING
        self._spawn(self._shutdown("io server disconnect", notify=False))

    async def _reconnect(self) -> None:
        options = self.options
        attempt = 0
        while True:
            if (
                options.reconnection_attempts is not None
                and attempt >= options.reconnection_attempts
            ):
                logger.info("giving up reconnecting after %d attempts", attempt)
                self._dispatcher.fire_manager("reconnect_failed")
                self._reconnect_task = None
                await self._shutdown("reconnect failed", notify=False)
                return
            delay = backoff_delay(attempt, options, self._random.random())
            attempt += 1
            await asyncio.sleep(delay)
            self._dispatcher.fire_manager("reconnect_attempt", attempt)
            try:
                async with asyncio.timeout(options.timeout):
                    await self._open_engine()
                if self._engine is None:
                    raise ConnectError("transport close: lost right after opening")
            except Exception as exc:
                error = (
                    exc if isinstance(exc, ConnectError) else ConnectError(str(exc) or "timeout")
                )
                logger.info("reconnection attempt %d failed: %s", attempt, error)
                self._dispatcher.fire_manager("reconnect_error", error)
                for ns in self._namespaces.values():
                    if ns.active:
                        self._dispatcher.fire(ns.name, "connect_error", error)
                continue
            self._reconnect_task = None
            self._state = ClientState.CONNECTED
            self._dispatcher.fire_manager("reconnect", attempt)
            self._connect_namespaces()
            return

    def _fail_acks(self, ns: ClientNamespace, *, keep_buffered: bool) -> None:
        """Fail the acks of ``ns`` that were sent: their answer cannot come any more."""
        buffered = ns.buffered_ack_ids() if keep_buffered else set()
        for ack_id, (name, _future) in list(self._acks.items()):
            if name == ns.name and ack_id not in buffered:
                self._fail_ack(ack_id, DisconnectedError(f"namespace {ns.name} disconnected"))

    def _fail_ack(self, ack_id: int, error: Exception) -> None:
        entry = self._acks.pop(ack_id, None)
        if entry is not None and not entry[1].done():
            entry[1].set_exception(error)

    def _engine_sid(self) -> str | None:
        return self._engine.sid if self._engine is not None else None


def _retrieve(future: asyncio.Future[None]) -> None:
    if not future.cancelled():
        future.exception()


def _check_namespace(namespace: str) -> None:
    if not isinstance(namespace, str) or not namespace.startswith("/"):
        raise ValueError(f"a namespace is a str starting with '/', not {namespace!r}")


def _fields(options: ClientOptions) -> dict[str, Any]:
    return {name: getattr(options, name) for name in ClientOptions.__dataclass_fields__}
