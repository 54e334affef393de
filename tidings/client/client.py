"""``tidings.Client``: a Socket.IO client for asyncio.

One Engine.IO connection carries every namespace. The client reconnects on
its own after losing it (exponential backoff with jitter, as socket.io-client's
Manager does, and with the same event names), queues emits made meanwhile in a
bounded offline buffer, and offers the server its connection-state-recovery
position on each new CONNECT.

This module holds the public API and the connection's lifecycle (open, lose,
reconnect, shut down). The namespaces and their packets are the multiplexer's
(``multiplexer.py``), the attempts after a loss the reconnector's
(``reconnection.py``), the handlers the dispatcher's (``dispatch.py``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import logging
from collections.abc import Callable, Coroutine, Iterable
from typing import Any, Self, TypeVar, overload

import aiohttp

from tidings.client.dispatch import MANAGER_EVENTS
from tidings.client.engine import EngineConnection, EngineTarget, engine_target
from tidings.client.errors import ConnectError, DisconnectedError
from tidings.client.multiplexer import Auth, NamespaceMultiplexer
from tidings.client.namespace import ClientNamespace, NamespaceState
from tidings.client.options import ClientOptions
from tidings.client.reconnection import Reconnector
from tidings.protocol.socketio import (
    DecoderLimits,
    Parser,
    ParserChoice,
    Serializer,
    resolve_parser,
)
from tidings.serializers import OrjsonSerializer

__all__ = ["MANAGER_EVENTS", "Auth", "Client", "ClientState"]

logger = logging.getLogger("tidings.client")

F = TypeVar("F", bound=Callable[..., Any])


class ClientState(enum.Enum):
    """Where the client's connection is; every transition is made by ``Client``."""

    IDLE = "idle"  # not connected; connect() may be called
    CONNECTING = "connecting"  # connect() in progress
    CONNECTED = "connected"  # an Engine.IO connection is open
    RECONNECTING = "reconnecting"  # lost it; backing off and trying again
    CLOSING = "closing"  # disconnect() in progress


@dataclasses.dataclass(frozen=True, slots=True)
class _Endpoint:
    """Where and how ``connect()`` was asked to connect; every reconnection goes the same way."""

    target: EngineTarget
    headers: dict[str, str]
    transports: tuple[str, ...]


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
        parser: ParserChoice = "default",
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
        given: dict[str, Any] = {
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
        self.options: ClientOptions = dataclasses.replace(base, **overrides) if overrides else base
        self.serializer: Serializer = serializer or OrjsonSerializer()
        self.parser: Parser = resolve_parser(parser, self.serializer)
        """The packet codec (``parser=``: "default", "msgpack" or a ``Parser``), as the server's."""
        self._state = ClientState.IDLE
        self._namespaces = NamespaceMultiplexer(
            self.options,
            self.parser,
            spawn=self._spawn,
            lose_connection=self._lose_connection,
            namespace_closed=self._on_namespace_closed,
        )
        self._dispatcher = self._namespaces.dispatcher
        self._reconnector = Reconnector(
            self.options,
            self._dispatcher,
            spawn=self._spawn,
            open_connection=self._reopen_engine,
            attempt_failed=self._namespaces.announce_connect_error,
            reconnected=self._on_reconnected,
            gave_up=self._on_reconnect_failed,
        )
        self._http: aiohttp.ClientSession | None = None
        self._endpoint: _Endpoint | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._done = asyncio.Event()
        self._done.set()
        self._first_namespace = "/"

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
        """Where the connection is: idle, connecting, connected, reconnecting or closing."""
        return self._state

    @property
    def connected(self) -> bool:
        """Whether the connection is up and at least one namespace connected."""
        return self._state is ClientState.CONNECTED and bool(self._namespaces.connected_names())

    @property
    def sid(self) -> str | None:
        """The session id of the first namespace given to ``connect`` (by default ``/``)."""
        return self.get_sid(self._first_namespace)

    def get_sid(self, namespace: str = "/") -> str | None:
        """The session id of ``namespace`` while it is connected."""
        ns = self._namespaces.get(namespace)
        return ns.sid if ns is not None and ns.state is NamespaceState.CONNECTED else None

    @property
    def recovered(self) -> bool:
        """Whether the server restored the first namespace's session on the last (re)connection."""
        return self.is_recovered(self._first_namespace)

    def is_recovered(self, namespace: str = "/") -> bool:
        """Whether the server restored ``namespace``'s session on the last (re)connection."""
        ns = self._namespaces.get(namespace)
        return ns is not None and ns.recovered

    @property
    def namespaces(self) -> tuple[str, ...]:
        """The namespaces currently connected."""
        return self._namespaces.connected_names()

    @property
    def transport(self) -> str | None:
        """``"polling"`` or ``"websocket"`` while connected."""
        engine = self._namespaces.engine
        return engine.transport if engine is not None else None

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

        self._namespaces.want(names, auth)
        self._first_namespace = names[0]
        self._endpoint = _Endpoint(target, dict(headers or {}), transports)
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
                await asyncio.gather(*self._namespaces.connect_waiting())
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
                self._namespaces.announce_connect_error(error)
            await self._shutdown("io client disconnect", notify=False)
            if error is exc:
                raise
            raise error from None

    async def _open_engine(self) -> None:
        endpoint = self._endpoint
        assert self._http is not None and endpoint is not None
        engine = EngineConnection(
            self._http,
            endpoint.target,
            transports=endpoint.transports,
            headers=endpoint.headers,
            timeout=self.options.timeout,
            max_size=self.options.max_message_size,
            on_message=self._namespaces.receive,
            on_close=self._on_engine_close,
        )
        self._namespaces.attach(engine)
        try:
            await engine.open()
        except BaseException:
            self._namespaces.detach()
            raise
        logger.info("sid=%s connected over %s", engine.sid, engine.transport)

    async def _reopen_engine(self) -> None:
        """One reconnection attempt; raises if it fails."""
        async with asyncio.timeout(self.options.timeout):
            await self._open_engine()
        if self._namespaces.engine is None:
            raise ConnectError("transport close: lost right after opening")

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
        self._reconnector.cancel()
        self._namespaces.close_all(reason, notify=notify)
        engine = self._namespaces.detach()
        if engine is not None:
            engine.close()
            await engine.wait_closed()
        await self._dispatcher.stop(self.options.timeout)
        if self._http is not None:
            await self._http.close()
            self._http = None
        self._state = ClientState.IDLE
        self._done.set()

    # -- sending ---------------------------------------------------------------------

    async def emit(self, event: str, *args: Any, namespace: str = "/") -> None:
        """Send an event; while reconnecting it waits in the offline buffer.

        ``bytes`` may appear anywhere in ``args``. Raises ``DisconnectedError`` if
        the namespace is not connected and will not be, ``OfflineBufferFullError``
        if the buffer is full.
        """
        self._namespaces.emit(self._active_namespace(namespace), event, args)

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
        wait = timeout if timeout is not None else self.options.ack_timeout
        return await self._namespaces.emit_with_ack(ns, event, args, wait)

    def _active_namespace(self, namespace: str) -> ClientNamespace:
        ns = self._namespaces.get(namespace)
        if ns is None or not ns.active or self._state in (ClientState.IDLE, ClientState.CLOSING):
            raise DisconnectedError(f"namespace {namespace} is not connected")
        return ns

    # -- the connection lost, and found again ----------------------------------------

    def _on_engine_close(self, reason: str, detail: str) -> None:
        if self._state is ClientState.CLOSING or self._namespaces.engine is None:
            return
        logger.info("sid=%s connection lost: %s %s", self._namespaces.engine_sid(), reason, detail)
        self._namespaces.detach()
        self._lose_namespaces(reason)

    def _lose_connection(self, reason: str) -> None:
        """We are dropping the connection ourselves (a malformed packet): as if it broke."""
        engine = self._namespaces.detach()
        if engine is None:
            return
        engine.close()
        self._lose_namespaces(reason)

    def _lose_namespaces(self, reason: str) -> None:
        self._namespaces.connection_lost(reason)
        if self._state is ClientState.CONNECTING:
            self._namespaces.fail_waiters(reason)
            return
        if self.options.reconnection and self._namespaces.any_active():
            self._state = ClientState.RECONNECTING
            self._reconnector.start()
        else:
            self._state = ClientState.CLOSING
            self._spawn(self._shutdown(reason, notify=False))

    def _on_namespace_closed(self, refused: bool) -> None:
        """The server refused or closed a namespace: with none left wanted, close for good.

        A refusal while ``connect()`` runs is reported by ``connect()`` itself.
        """
        if refused and self._state is ClientState.CONNECTING:
            return
        if self._state is ClientState.CLOSING or self._namespaces.any_active():
            return
        self._state = ClientState.CLOSING
        self._spawn(self._shutdown("io server disconnect", notify=False))

    def _on_reconnected(self) -> None:
        self._state = ClientState.CONNECTED
        self._namespaces.connect_waiting()

    async def _on_reconnect_failed(self) -> None:
        await self._shutdown("reconnect failed", notify=False)


def _check_namespace(namespace: str) -> None:
    if not isinstance(namespace, str) or not namespace.startswith("/"):
        raise ValueError(f"a namespace is a str starting with '/', not {namespace!r}")
