"""``tidings.Server``: the Socket.IO server, one asyncio implementation."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, TypeVar, overload

from tidings.adapters.base import Adapter, LocalNamespace, SlowConsumer
from tidings.adapters.memory import InMemoryAdapter
from tidings.engine import EngineOptions, EngineServer, EngineSocket, check_owner
from tidings.engine.backlog import SlowConsumerCounts
from tidings.engine.compression import HttpCompression
from tidings.engine.hooks import AllowRequest, Cookie, GenerateId
from tidings.engine.options import CorsOrigins
from tidings.history import DEFAULT_NODE, HistoryStore, MemoryHistory
from tidings.protocol.socketio import (
    DecoderLimits,
    PacketDecoder,
    Parser,
    ParserChoice,
    resolve_parser,
)
from tidings.protocol.websocket.deflate import DeflateOptions
from tidings.serializers import OrjsonSerializer, Serializer
from tidings.server.connection import Connection
from tidings.server.hooks import notify
from tidings.server.journal import Journal, RecoveryOptions
from tidings.server.namespace import Namespace, NamespaceMatcher, ParentNamespace
from tidings.server.operators import Broadcaster, BroadcastOperator
from tidings.server.options import ServerOptions
from tidings.server.ratelimit import RateLimit, RateLimitCounts
from tidings.websocket_routes import WebSocketRoutes

logger = logging.getLogger("tidings.server")

F = TypeVar("F", bound=Callable[..., Any])


SPREAD_TICK = 0.05
"""Seconds between two batches of sessions closed at a spread shutdown."""


class Server(Broadcaster):
    """A Socket.IO server. Serve it with ``tidings.standalone.run(sio)`` or mount ``tidings.ASGIApp(sio)``.

    ``history`` (a ``tidings.history`` store) keeps what is emitted to rooms, read back with
    ``sio.of(name).history``; ``connection_state_recovery`` also logs every event so a client
    that was away (or a server that restarted) replays what was missed, in order, once.
    ``node_id`` names this server among several sharing one history store (a cluster, or
    workers on one SQLite file): give each a name of its own that it keeps across restarts
    (the handoff owner tag fits). A node marks only its own sessions lost when it starts.

    The Engine.IO options (``ping_interval``, ``ping_timeout``, ``max_http_buffer_size``: the
    largest message or request body, ``cors_allowed_origins``, ``transports``...) are typed
    keyword arguments, validated once (``tidings.engine.EngineOptions``). ``serve_client``
    serves the official browser client at ``<path>socket.io.min.js`` (``tidings.browser``).

    ``parser``: how packets are written, as Node's ``parser`` option: ``"default"`` (JSON
    through ``serializer``), ``"msgpack"`` (socket.io-msgpack-parser's format, with
    ``tidings[msgpack]``) or a ``tidings.protocol.socketio.Parser`` object. Clients must match.

    ``cleanup_empty_child_namespaces``: a child of a dynamic namespace (``sio.of(regex)``) is
    removed when its last socket leaves, as in Node; otherwise every distinct name a client
    asked for stays in memory.

    ``max_pending_events``: a client's events waiting for its handlers (they run in order);
    at this many its connection stops reading, and TCP pushes back on that client alone,
    until they are down to a quarter (docs/limits.md). ``rate_limit`` (a ``RateLimit``) bounds
    every connection's packets and bytes per second; ``sio.limit(event, ...)`` one event's.
    ``max_sessions_per_address`` and ``handshakes_per_second`` (with ``handshake_burst``)
    bound new sessions per client address (off by default: behind a proxy every client
    has its address). ``allow_request``, ``generate_id`` and ``cookie`` are Node engine.io's
    ``allowRequest``, ``generateId`` and ``cookie``; ``sio.engine.on("connection_error")``,
    ``"initial_headers"`` and ``"headers"`` its events (docs/engine-hooks.md).

    ``slow_consumer``: what a client that does not read fast enough may miss
    (``tidings.SlowConsumer``; a namespace may set its own): ``"disconnect"`` it at
    ``max_buffered_bytes``, or ``"drop"`` the oldest events that await no ack, or
    ``"conflate"`` them (only the latest of each event waits). ``sio.slow_consumers``
    counts what was done.
    """

    def __init__(
        self,
        *,
        path: str = "/socket.io/",
        serializer: Serializer | None = None,
        parser: ParserChoice = "default",
        adapter_factory: Callable[[LocalNamespace], Adapter] = InMemoryAdapter,
        connect_timeout: float = 10.0,
        concurrent_events: bool = False,
        cleanup_empty_child_namespaces: bool = False,
        max_pending_events: int = 256,
        rate_limit: RateLimit | None = None,
        slow_consumer: SlowConsumer = "disconnect",
        decoder_limits: DecoderLimits | None = None,
        max_http_buffer_size: int = 1_000_000,
        history: HistoryStore | None = None,
        connection_state_recovery: bool | RecoveryOptions = False,
        node_id: str = DEFAULT_NODE,
        ping_interval: float = 25.0,
        ping_timeout: float = 20.0,
        transports: Sequence[str] = ("polling", "websocket"),
        allow_upgrades: bool = True,
        upgrade_timeout: float = 10.0,
        max_connections: int = 10_000,
        max_sessions_per_address: int | None = None,
        handshakes_per_second: float | None = None,
        handshake_burst: float | None = None,
        cors_allowed_origins: CorsOrigins = None,
        cors_credentials: bool = False,
        max_buffered_bytes: int = 10_000_000,
        serve_client: bool = True,
        per_message_deflate: bool | DeflateOptions = False,
        http_compression: bool | HttpCompression = True,
        allow_request: AllowRequest | None = None,
        generate_id: GenerateId | None = None,
        cookie: bool | Cookie = False,
        shutdown_spread: float = 0.0,
    ) -> None:
        self.options = ServerOptions(
            connect_timeout=connect_timeout,
            concurrent_events=concurrent_events,
            cleanup_empty_child_namespaces=cleanup_empty_child_namespaces,
            max_pending_events=max_pending_events,
            rate_limit=rate_limit,
            slow_consumer=slow_consumer,
            decoder_limits=decoder_limits or DecoderLimits(),
        )
        self.serializer: Serializer = serializer or OrjsonSerializer()
        """JSON for what the server stores (history, recovery sessions), and the default parser's."""
        self.parser: Parser = resolve_parser(parser, self.serializer)
        """The packet codec every client of this server must use (``parser=``)."""
        recovery = (
            RecoveryOptions() if connection_state_recovery is True
            else connection_state_recovery or None
        )
        if recovery is not None and history is None:
            history = MemoryHistory()  # recovery within this process only
        self.journal: Journal | None = (
            Journal(history, self.serializer, recovery) if history is not None else None
        )
        """The history store in use (``history=``), as the server's parts write to it."""
        self.node_id = node_id
        self.adapter_factory = adapter_factory
        """Makes each namespace's adapter: rooms and broadcasts, in this process or a cluster."""
        if shutdown_spread < 0:
            raise ValueError("shutdown_spread must not be negative")
        self.shutdown_spread = shutdown_spread
        """Seconds over which ``shutdown`` closes the sessions, a batch at a time, so their
        clients do not all reconnect at once (``tidings serve --drain-spread``)."""
        if not path.startswith("/"):
            path = "/" + path
        if not path.endswith("/"):
            path += "/"
        self.engine = EngineServer(self, EngineOptions(
            path=path,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            max_payload=max_http_buffer_size,
            transports=tuple(transports),
            allow_upgrades=allow_upgrades,
            upgrade_timeout=upgrade_timeout,
            max_connections=max_connections,
            max_sessions_per_address=max_sessions_per_address,
            handshakes_per_second=handshakes_per_second,
            handshake_burst=handshake_burst,
            cors_allowed_origins=cors_allowed_origins,
            cors_credentials=cors_credentials,
            max_buffered_bytes=max_buffered_bytes,
            serve_client=serve_client,
            per_message_deflate=per_message_deflate,
            http_compression=http_compression,
            allow_request=allow_request,
            generate_id=generate_id,
            cookie=cookie,
        ))
        self._nsps: dict[str, Namespace] = {}
        self._parents: list[ParentNamespace] = []
        self._connections: dict[str, Connection] = {}
        self._started = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self.rate_limited = RateLimitCounts()
        """What the rate limits dropped and disconnected (``rate_limit``, ``limit``)."""
        self.slow_consumers: SlowConsumerCounts = self.engine.context.slow_consumers
        """What the slow-consumer policies dropped, conflated and disconnected."""
        self.decoder: PacketDecoder = self.parser.decoder(self.options.decoder_limits)
        """Decodes every connection's text packets (they leave no state behind; see Connection)."""
        self.websocket_routes = WebSocketRoutes()
        """Plain WebSocket endpoints served beside Socket.IO (``@sio.websocket("/echo")``)."""
        self.websocket = self.websocket_routes.route
        self.of("/")

    @property
    def node_id(self) -> str:
        """This server's name among the servers sharing a history store; may be set until
        the server starts (a supervisor names each worker of an imported app this way)."""
        return self._node_id

    @node_id.setter
    def node_id(self, value: str) -> None:
        try:  # the same rule as an owner tag: a worker's node id is its tag
            check_owner(value)
        except ValueError:
            raise ValueError("node_id must be 1 to 24 characters of A-Z a-z 0-9 _ -") from None
        if self.journal is not None:
            if self.journal.opened:
                raise RuntimeError("node_id cannot change once the history store is open")
            self.journal.node = value
        self._node_id = value

    # -- namespaces ----------------------------------------------------------------------

    def of(self, name: str | NamespaceMatcher) -> Namespace:
        """The namespace ``name``, created on first use; a regex or ``fn(name, auth)`` makes a dynamic one."""
        if isinstance(name, str):
            nsp = self._nsps.get(name)
            if nsp is None:
                nsp = Namespace(name)
                nsp.bind(self)
                self._nsps[name] = nsp
                if name != "/":
                    self._announce(nsp)
            return nsp
        parent = ParentNamespace(name)
        parent.bind(self)
        self._parents.append(parent)
        return parent

    def register_namespace(self, nsp: Namespace) -> Namespace:
        """Register a class-based namespace (a ``Namespace`` subclass with ``on_<event>`` methods)."""
        if nsp.name in self._nsps and self._nsps[nsp.name].sockets:
            raise RuntimeError(f"namespace {nsp.name!r} already has connected sockets")
        nsp.bind(self)
        self._nsps[nsp.name] = nsp
        if nsp.name != "/":
            self._announce(nsp)
        return nsp

    def _announce(self, nsp: Namespace) -> None:
        """Call the ``new_namespace`` handlers of ``/`` at once (a coroutine one as a task),
        so they may configure ``nsp`` before its first client is handled, as in Node."""
        main = self._nsps.get("/")
        if main is None:
            return
        notify(main.new_namespace_listeners, self, nsp)

    @property
    def sockets(self) -> Namespace:
        """The main namespace ``/`` (as ``io.sockets`` in Node)."""
        return self._nsps["/"]

    def namespace_for(self, name: str, auth: Any) -> Namespace | None:
        """The namespace a client asks to join, made now if a dynamic parent accepts it."""
        nsp = self._nsps.get(name)
        if nsp is not None:
            return nsp
        for parent in self._parents:
            child = parent.children.get(name)
            if child is not None:
                return child
            try:
                if parent.matches(name, auth):
                    child = parent.create_child(name)
                    self._announce(child)
                    return child
            except Exception:
                logger.exception("dynamic namespace matcher failed for %r", name)
        return None

    # -- the main namespace's API, for convenience ---------------------------------------------

    @overload
    def on(self, event: str) -> Callable[[F], F]: ...

    @overload
    def on(self, event: str, handler: F) -> F: ...

    def on(self, event: str, handler: F | None = None) -> Callable[[F], F] | F:
        """Register a handler on the main namespace ``/`` (see ``Namespace.on``)."""
        if handler is None:
            return self._nsps["/"].on(event)
        return self._nsps["/"].on(event, handler)

    def event(self, fn: F) -> F:
        return self._nsps["/"].event(fn)

    def limit(self, event: str, rule: RateLimit) -> None:
        """Limit each client's ``event`` on the main namespace (see ``Namespace.limit``)."""
        self._nsps["/"].limit(event, rule)

    def use(self, middleware: F) -> F:
        return self._nsps["/"].use(middleware)

    def on_any(self, listener: F) -> F:
        return self._nsps["/"].on_any(listener)

    def on_any_outgoing(self, listener: F) -> F:
        return self._nsps["/"].on_any_outgoing(listener)

    def operator(self) -> BroadcastOperator:
        """Broadcasts from the server reach the main namespace ``/`` (the rest: ``sio.of``)."""
        return self._nsps["/"].operator()

    def on_server_event(self, event: str) -> Callable[[F], F]:
        """Handle what other servers send with ``server_side_emit`` (see ``Namespace``)."""
        return self._nsps["/"].on_server_event(event)

    async def server_side_emit(self, event: str, *args: Any) -> None:
        """Send an event to the other servers of the cluster (main namespace)."""
        await self._nsps["/"].server_side_emit(event, *args)

    async def server_side_emit_with_ack(
        self, event: str, *args: Any, timeout: float | None = 5.0
    ) -> list[Any]:
        """Send an event to the other servers and return one answer from each."""
        return await self._nsps["/"].server_side_emit_with_ack(event, *args, timeout=timeout)

    async def server_count(self) -> int:
        """How many servers the cluster has, this one included."""
        return await self._nsps["/"].adapter.server_count()

    # -- the engine's handler: Engine.IO connections come and go ----------------------------

    def connection_opened(self, socket: EngineSocket) -> None:
        self._connections[socket.sid] = Connection(self, socket)

    def message_received(self, socket: EngineSocket, data: str | bytes) -> None:
        connection = self._connections.get(socket.sid)
        if connection is not None:
            connection.receive(data)

    def connection_closed(self, socket: EngineSocket, reason: str) -> None:
        connection = self._connections.pop(socket.sid, None)
        if connection is not None:
            connection.closed(reason)

    # -- tasks and shutdown --------------------------------------------------------------------

    def spawn(self, coro: Coroutine[Any, Any, Any], *, discard: bool = True) -> asyncio.Task[Any]:
        """Run ``coro`` as a task that shutdown waits for. ``discard=False``: the coroutine
        calls ``task_done`` itself when it ends (see ``Socket._drain``)."""
        task = asyncio.get_running_loop().create_task(coro)
        if task.done():  # an eager task factory ran it to its end already: nothing to track
            return task
        self._tasks.add(task)
        if discard:
            task.add_done_callback(self._tasks.discard)
        return task

    def task_done(self, task: asyncio.Task[Any] | None) -> None:
        """Forget a task spawned with ``discard=False`` (called by the task as it ends)."""
        if task is not None:
            self._tasks.discard(task)

    @property
    def tasks(self) -> frozenset[asyncio.Task[Any]]:
        """The handler and bookkeeping tasks running now."""
        return frozenset(self._tasks)

    async def startup(self) -> None:
        """Accept connections (again, after a shutdown) and open the history store now rather
        than on first use; the built-in server and the ASGI app call it when they start."""
        await self.engine.startup()
        if self.journal is not None:
            await self.journal.open()
        for nsp in self._namespaces():
            await nsp.adapter.open()
        self._started = True

    def use_adapter(self, adapter_factory: Callable[[LocalNamespace], Adapter]) -> None:
        """Make every namespace's adapter with ``adapter_factory``, those made already included,
        before the server starts: how ``tidings serve --workers`` puts an app made at import
        time on its cluster."""
        if self._started:
            raise RuntimeError("the adapter cannot change while the server runs")
        self.adapter_factory = adapter_factory
        for nsp in [*self._parents, *self._namespaces()]:
            nsp.bind(self)

    async def _close_spread(self, spread: float, timeout: float) -> None:
        """Close session k of n at ``spread * k / n`` seconds, a batch per ``SPREAD_TICK``; one
        whose handler is still running is closed once it is done (its ack sent), or when half
        of what ``timeout`` leaves after the spread is up (the rest is the shutdown's)."""
        sockets = list(self.engine.sockets.values())
        loop = asyncio.get_running_loop()
        start = loop.time()
        waiting: list[EngineSocket] = []
        for k, socket in enumerate(sockets):
            wait = start + spread * k / len(sockets) - loop.time()
            if wait >= SPREAD_TICK:
                await asyncio.sleep(wait)
                waiting = self._close_idle(waiting)
            waiting += self._close_idle([socket])
        deadline = start + spread + (timeout - spread) / 2
        while waiting and loop.time() < deadline:
            await asyncio.sleep(SPREAD_TICK)
            waiting = self._close_idle(waiting)

    def _close_idle(self, sockets: list[EngineSocket]) -> list[EngineSocket]:
        """Close those of ``sockets`` with no handler running; the others, still open."""
        busy = []
        for socket in sockets:
            if socket.closed:
                continue
            connection = self._connections.get(socket.sid)
            if connection is not None and connection.busy:
                busy.append(socket)
            else:
                socket.close("server shutting down")
        return busy

    def adapter_made(self, adapter: Adapter) -> None:
        """Open the adapter of a namespace made while the server runs (called by ``Namespace``)."""
        if self._started:
            self.spawn(self._open_adapter(adapter))

    async def _open_adapter(self, adapter: Adapter) -> None:
        try:
            await adapter.open()
        except Exception:
            logger.exception("a namespace made at run time could not join the cluster")

    def _namespaces(self) -> list[Namespace]:
        """Every namespace with an adapter: static ones and dynamic children."""
        found = list(self._nsps.values())
        for parent in self._parents:
            found.extend(parent.children.values())
        return found

    async def shutdown(self, timeout: float = 10.0) -> None:
        """Tell every client the server is going away and let running handlers finish within ``timeout``.

        With ``shutdown_spread``, the sessions are closed first in batches over that many
        seconds (at most ``timeout``), each client told to reconnect at its own time; a
        session whose handler is still running waits until it has acked."""
        if self.shutdown_spread > 0:
            await self._close_spread(min(self.shutdown_spread, timeout), timeout)
        await self.websocket_routes.shutdown(timeout)
        for connection in list(self._connections.values()):
            connection.closed("server shutting down")
        self._connections.clear()
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=timeout)
            for task in pending:
                logger.warning("handler still running after %ss at shutdown, cancelling: %r", timeout, task)
                task.cancel()
        await self.engine.shutdown(timeout)
        if self._tasks:  # sessions being saved as their sockets left
            await asyncio.wait(set(self._tasks), timeout=timeout)
        self._started = False
        for nsp in self._namespaces():
            try:
                await nsp.adapter.close()
            except Exception:
                logger.exception("namespace %s: its adapter failed to close", nsp.name)
        if self.journal is not None:
            await self.journal.close()
