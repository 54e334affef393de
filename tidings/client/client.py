"""``tidings.Client``: a Socket.IO client for asyncio.

One Engine.IO connection carries every namespace. The client reconnects on
its own after losing it (exponential backoff with jitter, as socket.io-client's
Manager does, and with the same event names), queues emits made meanwhile in a
bounded offline buffer (or, with ``retries``, re-sends them until acknowledged),
and offers the server its connection-state-recovery position on each new CONNECT.

This module holds the public API and the connection's lifecycle (open, lose,
reconnect, shut down). The namespaces and their packets are the multiplexer's
(``multiplexer.py``), the attempts after a loss the reconnector's
(``reconnection.py``), the handlers the dispatcher's (``dispatch.py``, filled
through ``registration.py``), the at-least-once queues ``retries.py``'s.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import logging
from collections.abc import Coroutine, Iterable
from typing import Any, Self, Unpack

import aiohttp

from tidings.client.arguments import (
    Auth,
    Headers,
    check_namespace,
    namespaces_to_join,
    resolve_headers,
)
from tidings.client.dispatch import MANAGER_EVENTS
from tidings.client.endpoint import EngineTarget, engine_target, request_options
from tidings.client.engine import EngineConnection
from tidings.client.errors import ConnectError, DisconnectedError
from tidings.client.multiplexer import NamespaceMultiplexer
from tidings.client.namespace import ClientNamespace, NamespaceState
from tidings.client.options import ClientOptions, OptionOverrides
from tidings.client.reconnection import Reconnector
from tidings.client.registration import HandlerRegistry
from tidings.protocol.socketio import Parser, ParserChoice, Serializer, resolve_parser
from tidings.serializers import OrjsonSerializer

__all__ = ["MANAGER_EVENTS", "Auth", "Client", "ClientState", "Headers"]

logger = logging.getLogger("tidings.client")


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
    headers: Headers
    transports: tuple[str, ...]
    request: dict[str, Any]  # aiohttp's TLS and proxy arguments
    proxy_headers: dict[str, str]


class Client(HandlerRegistry):
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
        http_session: aiohttp.ClientSession | None = None,
        **overrides: Unpack[OptionOverrides],
    ) -> None:
        """``options``, or ``ClientOptions``' fields as keywords (over ``options`` if both).

        ``http_session``: an ``aiohttp.ClientSession`` of the application's to make
        every request with (its connector, cookies, ``trust_env`` proxies); the
        client never closes it. By default the client makes its own.
        """
        base = options or ClientOptions()
        self.options: ClientOptions = dataclasses.replace(base, **overrides) if overrides else base
        self.serializer: Serializer = serializer or OrjsonSerializer()
        self.parser: Parser = resolve_parser(parser, self.serializer)
        """The packet codec (``parser=``: "default", "msgpack" or a ``Parser``), as the server's."""
        self._lent_http = http_session
        self._state = ClientState.IDLE
        self._namespaces = NamespaceMultiplexer(
            self.options,
            self.parser,
            spawn=self._spawn,
            lose_connection=self._lose_connection,
            namespace_closed=self._on_namespace_closed,
        )
        self._dispatcher = self._namespaces.dispatcher
        super().__init__(self._dispatcher)
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
        headers: Headers = None,
        transports: Iterable[str] = ("polling", "websocket"),
        socketio_path: str = "socket.io",
    ) -> None:
        """Connect to ``url`` and join ``namespaces``; raise ``ConnectError`` if that fails.

        ``namespaces`` defaults to the URL's path if it has one, else to every
        namespace a handler was registered for, else ``/``. ``auth`` is a dict,
        or a (possibly async) function returning one, called for each CONNECT.
        ``headers`` likewise, called before each connection (reconnections too).
        ``transports``: the first one opens the connection; ``"websocket"``
        later in the list means upgrading to it, as the JavaScript client does.
        """
        if self._state is not ClientState.IDLE:
            raise RuntimeError(f"connect() while {self._state.value}")
        target = engine_target(url, socketio_path)
        transports = tuple(transports)
        names = namespaces_to_join(namespaces, target.namespace, self._dispatcher.namespaces())
        self._namespaces.want(names, auth)
        self._first_namespace = names[0]
        request, proxy_headers = request_options(self.options.ssl, self.options.proxy, target)
        self._endpoint = _Endpoint(
            target,
            headers if callable(headers) else dict(headers or {}),
            transports,
            request,
            proxy_headers,
        )
        self._state = ClientState.CONNECTING
        self._done.clear()
        self._dispatcher.start(concurrent=self.options.concurrent_events)
        if self._lent_http is not None:
            self._http = self._lent_http
        elif self._http is None or self._http.closed:
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
            headers={**await resolve_headers(endpoint.headers), **endpoint.proxy_headers},
            timeout=self.options.timeout,
            max_size=self.options.max_message_size,
            compress=15 if self.options.per_message_deflate else 0,
            request=endpoint.request,
            on_message=self._namespaces.receive,
            on_close=self._on_engine_close,
            on_ping=lambda: self._dispatcher.fire_manager("ping"),
        )
        self._namespaces.attach(engine)
        try:
            await engine.open()
        except BaseException:
            self._namespaces.detach()
            raise
        logger.info("sid=%s connected over %s", engine.sid, engine.transport)
        self._dispatcher.fire_manager("open")

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

    async def connect_namespace(self, namespace: str, auth: Auth = None) -> None:
        """Join one more namespace on the connection ``connect()`` made (the JavaScript
        ``manager.socket(nsp).connect()``); it is then reconnected as the others are.

        While reconnecting, it joins with the next connection. Raises
        ``ConnectError`` if refused or not answered within ``options.timeout``.
        """
        check_namespace(namespace)
        if self._state not in (ClientState.CONNECTED, ClientState.RECONNECTING):
            raise DisconnectedError(f"connect_namespace() while {self._state.value}")
        ns = self._namespaces.get(namespace)
        if ns is not None and ns.state is NamespaceState.CONNECTED:
            return
        if ns is None or not ns.active:
            ns = self._namespaces.add(namespace, auth)
        waiter = self._namespaces.waiter_of(ns)
        if self._state is ClientState.CONNECTED:
            self._namespaces.connect_waiting()
        try:
            async with asyncio.timeout(self.options.timeout):
                await asyncio.shield(waiter)
        except TimeoutError:
            self._namespaces.leave(ns, None)
            raise ConnectError(f"timeout: namespace {namespace} not answered in time") from None

    async def disconnect_namespace(self, namespace: str) -> None:
        """Leave one namespace (its ``disconnect`` handler runs); leaving the last one
        closes the connection, as ``disconnect()`` does."""
        ns = self._namespaces.get(namespace)
        if ns is None or not ns.active or self._state in (ClientState.IDLE, ClientState.CLOSING):
            return
        if self._namespaces.active_names() == (namespace,):
            await self.disconnect()
            return
        self._namespaces.leave(ns, "io client disconnect")

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
            self._dispatcher.fire_manager("close", "forced close", "")
            await engine.wait_closed()
        await self._dispatcher.stop(self.options.timeout)
        if self._http is not None and self._http is not self._lent_http:
            await self._http.close()
        self._http = None
        self._state = ClientState.IDLE
        self._done.set()

    # -- sending ---------------------------------------------------------------------

    async def emit(
        self, event: str, *args: Any, namespace: str = "/", volatile: bool = False
    ) -> None:
        """Send an event; while reconnecting it waits in the offline buffer.

        ``bytes`` may appear anywhere in ``args``. ``volatile``: sent only if the
        namespace is connected right now, else dropped (never buffered nor
        retried), as the JavaScript ``socket.volatile.emit``. With ``retries``,
        every other emit asks for an acknowledgement and is retried until it
        gets one (failures are logged). Raises ``DisconnectedError`` if the
        namespace is not connected and will not be, ``OfflineBufferFullError``
        if the buffer is full.
        """
        self._namespaces.emit(self._active_namespace(namespace), event, args, volatile=volatile)

    async def emit_with_ack(
        self, event: str, *args: Any, timeout: float | None = None, namespace: str = "/"
    ) -> Any:
        """Send an event and return the server's acknowledgement.

        One ack argument comes back as itself, several as a tuple, none as
        ``None``. Raises ``AckTimeoutError`` after ``timeout`` seconds (by default
        ``options.ack_timeout``), ``DisconnectedError`` if the connection is lost
        after the event was sent (an event still in the offline buffer waits).
        With ``retries``, ``timeout`` is the wait of each try, a lost connection
        ends a try rather than the emit, and ``AckTimeoutError`` (or
        ``DisconnectedError``) comes once no retry is left.
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
        self._dispatcher.fire_manager("close", reason, detail)
        self._lose_namespaces(reason)

    def _lose_connection(self, reason: str) -> None:
        """We are dropping the connection ourselves (a malformed packet): as if it broke."""
        engine = self._namespaces.detach()
        if engine is None:
            return
        engine.close()
        self._dispatcher.fire_manager("close", reason, "")
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
