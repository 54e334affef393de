"""``TestClient``: a Socket.IO client of a ``tidings.Server`` in the same loop, in memory.

One ``TestClient`` is one namespace of a client connection (as a socket.io-client
``Socket`` is); ``connect_namespace`` adds another on the same connection. Each
waits with the client's ``timeout`` unless told otherwise, and a wait that fails
says what did arrive.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast, overload
from urllib.parse import urlencode

from tidings.engine.io import HttpRequest
from tidings.ids import Sid
from tidings.protocol.socketio import RESERVED_EVENTS
from tidings.testing.connection import MemoryConnection
from tidings.testing.inbox import Inbox, Phase, Received
from tidings.testing.lifespan import hold, release

if TYPE_CHECKING:
    from tidings.server import Server, Socket

__all__ = ["TestClient", "connect"]

F = TypeVar("F", bound=Callable[..., Any])


class TestClient:
    """One namespace of an in-memory client connection; made by ``tidings.testing.connect``."""

    __test__ = False  # pytest: not a test class, whatever the test module imports

    __slots__ = ("_connection", "_inbox", "_options", "timeout")

    def __init__(
        self, connection: MemoryConnection, inbox: Inbox, options: _Options, timeout: float
    ) -> None:
        self._connection = connection
        self._inbox = inbox
        self._options = options
        self.timeout = timeout
        """Seconds every wait of this client allows unless given its own."""

    def __repr__(self) -> str:
        return f"<TestClient {self.namespace} sid={self.sid} {self._inbox.phase.value}>"

    # -- state -----------------------------------------------------------------------------

    @property
    def namespace(self) -> str:
        return self._inbox.name

    @property
    def sid(self) -> str:
        """This namespace's socket id, the server-side ``socket.id``."""
        sid = self._inbox.sid
        assert sid is not None  # a TestClient exists only once connected
        return sid

    @property
    def connected(self) -> bool:
        return self._inbox.phase is Phase.CONNECTED and self._connection.open

    @property
    def disconnect_reason(self) -> str | None:
        """Why this namespace disconnected, in socket.io-client's words ("io server
        disconnect", "io client disconnect", "transport close"...), None while connected."""
        return self._inbox.reason

    @property
    def recovered(self) -> bool:
        """Whether the server restored this session (``reconnect()`` with recovery on)."""
        return self._inbox.recovered

    @property
    def received(self) -> list[Received]:
        """Every event received on this namespace so far, in order (taken or not)."""
        return list(self._inbox.log)

    @property
    def server(self) -> Server:
        return self._connection.server

    @property
    def socket(self) -> Socket:
        """The server's ``tidings.Socket`` for this client (``LookupError`` once it has left)."""
        nsp = self.server.namespace_for(self.namespace, None)
        found = nsp.sockets.get(Sid(self.sid)) if nsp is not None else None
        if found is None:
            raise LookupError(f"the server has no socket {self.sid} on {self.namespace}")
        return cast("Socket", found)

    # -- handlers --------------------------------------------------------------------------

    @overload
    def on(self, event: str) -> Callable[[F], F]: ...

    @overload
    def on(self, event: str, handler: F) -> F: ...

    def on(self, event: str, handler: F | None = None) -> F | Callable[[F], F]:
        """Answer the server's ``event`` (as a decorator when ``handler`` is omitted).

        The handler gets the event's arguments; its return value (awaited if it is a
        coroutine) is the ack the server's ``emit_with_ack`` gets: ``None`` for none, a
        tuple for several. ``"*"`` answers events with no handler of their own, with the
        event name first. Every event is also recorded (``receive``, ``received``); one
        with no handler is never acknowledged. An exception in a handler is raised again
        when the client's ``async with`` block ends.
        """

        if event in RESERVED_EVENTS:
            raise ValueError(
                f"{event!r} never arrives as an event: await client.disconnected() or"
                " catch the ConnectionRefusedError of connect instead"
            )

        def register(fn: F) -> F:
            self._inbox.handlers[event] = fn
            return fn

        return register if handler is None else register(handler)

    # -- sending ---------------------------------------------------------------------------

    async def emit(self, event: str, *args: Any) -> None:
        """Send an event; the server has received it when this returns (an ``async def``
        handler that awaits may still be running: ``tidings.testing.settle`` waits)."""
        self._connection.emit(self.namespace, event, args)

    async def emit_with_ack(self, event: str, *args: Any, timeout: float | None = None) -> Any:
        """Send an event and return the server's ack: one value as itself, several as a
        tuple, none as ``None``. ``tidings.AckTimeoutError`` when none comes in time,
        ``tidings.DisconnectedError`` when the namespace disconnects first."""
        wait = self.timeout if timeout is None else timeout
        return await self._connection.emit_with_ack(self.namespace, event, args, wait)

    # -- receiving -------------------------------------------------------------------------

    async def receive(self, *, timeout: float | None = None) -> Received:
        """The next event not taken yet, as ``(event, args)``, waiting for it."""
        return await self._inbox.take(None, self.timeout if timeout is None else timeout)

    async def event(self, name: str, *, timeout: float | None = None) -> tuple[Any, ...]:
        """The arguments of the next event ``name`` not taken yet, waiting for it; other
        events stay for ``receive``."""
        item = await self._inbox.take(name, self.timeout if timeout is None else timeout)
        return item.args

    async def disconnected(self, *, timeout: float | None = None) -> str:
        """Wait until this namespace is disconnected (by either side); returns the reason."""
        inbox = self._inbox
        wait = self.timeout if timeout is None else timeout
        await inbox.until(lambda: inbox.phase is Phase.DISCONNECTED, "disconnected", wait)
        assert inbox.reason is not None
        return inbox.reason

    # -- connecting and leaving ------------------------------------------------------------

    async def connect_namespace(
        self, namespace: str, *, auth: dict[str, Any] | None = None, timeout: float | None = None
    ) -> TestClient:
        """Join another namespace over the same connection (multiplexed); it is left when
        the first client's ``async with`` block ends. Raises as ``connect`` does."""
        wait = self.timeout if timeout is None else timeout
        inbox = await self._connection.join(namespace, auth, wait)
        return TestClient(self._connection, inbox, self._options, self.timeout)

    async def disconnect(self) -> None:
        """Leave this namespace (the server sees "client namespace disconnect"); the
        connection closes with its last namespace."""
        self._connection.leave(self.namespace)

    async def drop(self) -> None:
        """Lose the connection as a network failure would: no DISCONNECT, the server sees
        "transport close" (and keeps the session for recovery, when it is on)."""
        self._connection.abort()

    def reconnect(
        self, *, auth: dict[str, Any] | None = None, timeout: float | None = None
    ) -> contextlib.AbstractAsyncContextManager[TestClient]:
        """Connect again as this client, on a new connection, offering the server this
        session's recovery position (``recovered`` says whether it was restored)."""
        options = self._options
        return _connected(
            options, auth if auth is not None else self._inbox.auth,
            self.timeout if timeout is None else timeout, recover=self._inbox,
        )


class _Options:
    """How ``connect`` was called: a reconnection goes the same way."""

    __slots__ = ("address", "headers", "lifespan", "namespace", "query", "server")

    def __init__(
        self, server: Server, namespace: str, headers: Mapping[str, str] | None,
        query: Mapping[str, str] | None, address: str, lifespan: bool,
    ) -> None:
        self.server = server
        self.namespace = namespace
        self.headers = {"host": "testserver", **{k.lower(): v for k, v in (headers or {}).items()}}
        self.query = dict(query or {})
        self.address = address
        self.lifespan = lifespan

    def request(self) -> HttpRequest:
        query = {**self.query, "EIO": "4", "transport": "websocket"}
        return HttpRequest(
            method="GET",
            path=self.server.engine.options.path,
            query_string=urlencode(query),
            query=query,
            headers={**self.headers, "connection": "Upgrade", "upgrade": "websocket"},
            client=(self.address, 50000),
        )


def connect(
    server: Server,
    namespace: str = "/",
    *,
    auth: dict[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    query: Mapping[str, str] | None = None,
    address: str = "127.0.0.1",
    timeout: float = 5.0,
    lifespan: bool = True,
) -> contextlib.AbstractAsyncContextManager[TestClient]:
    """Connect a ``TestClient`` to ``server`` in this loop, in memory; leave at the block's end.

    ``auth`` is the CONNECT payload (``socket.handshake.auth``); ``headers``, ``query`` and
    ``address`` are what ``socket.handshake`` shows of the request (``host`` is
    "testserver" unless given). A refusal raises ``tidings.ConnectionRefusedError`` with
    the server's ``message`` and ``data``. ``timeout`` bounds every wait of the client.

    With ``lifespan`` (the default) the server's ``startup`` runs before the first test
    client of this loop connects and its ``shutdown`` after the last one leaves (see
    ``running``); ``lifespan=False`` when the test runs the server itself.

    ::

        async with tidings.testing.connect(sio, auth={"token": "t"}) as client:
            assert await client.emit_with_ack("shout", "hi") == "HI"
    """
    options = _Options(server, namespace, headers, query, address, lifespan)
    return _connected(options, auth, timeout, recover=None)


@contextlib.asynccontextmanager
async def _connected(
    options: _Options, auth: dict[str, Any] | None, timeout: float, recover: Inbox | None
) -> AsyncIterator[TestClient]:
    server = options.server
    if options.lifespan:
        await hold(server)
    try:
        connection = MemoryConnection(server, options.request())
        try:
            connection.start()
            inbox = await connection.join(options.namespace, auth, timeout, recover)
            yield TestClient(connection, inbox, options, timeout)
        finally:
            await connection.finish(timeout)
        if connection.errors:
            raise connection.errors[0]
    finally:
        if options.lifespan:
            await release(server, timeout)
