"""``tidings.Server``: the Socket.IO server, one asyncio implementation."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Iterable
from typing import Any, TypeVar, overload

from tidings.adapters.base import Adapter
from tidings.adapters.memory import InMemoryAdapter
from tidings.engine import EngineOptions, EngineServer, EngineSocket
from tidings.history import HistoryStore, MemoryHistory
from tidings.protocol.socketio import Decoder, DecoderLimits
from tidings.serializers import OrjsonSerializer, Serializer
from tidings.server.client import Client
from tidings.server.journal import Journal, RecoveryOptions
from tidings.server.namespace import Namespace, NamespaceMatcher, ParentNamespace
from tidings.server.operators import BroadcastOperator
from tidings.server.options import ServerOptions
from tidings.server.socket import Socket
from tidings.websocket_routes import WebSocketRoutes

logger = logging.getLogger("tidings.server")

F = TypeVar("F", bound=Callable[..., Any])


class Server:
    """A Socket.IO server. Serve it with ``tidings.standalone.run(sio)`` or mount ``tidings.ASGIApp(sio)``.

    ``history`` (a ``tidings.history`` store) keeps what is emitted to rooms, read back with
    ``sio.of(name).history``; ``connection_state_recovery`` also logs every event so a client
    that was away (or a server that restarted) replays what was missed, in order, once.

    Engine options (``ping_interval``, ``ping_timeout``, ``max_http_buffer_size``,
    ``cors_allowed_origins``, ``cors_credentials``, ``transports``, ``path``...) are passed through.
    """

    def __init__(
        self,
        *,
        path: str = "/socket.io/",
        serializer: Serializer | None = None,
        adapter_factory: Callable[[Namespace], Adapter] = InMemoryAdapter,
        connect_timeout: float = 45.0,
        concurrent_events: bool = False,
        decoder_limits: DecoderLimits | None = None,
        max_http_buffer_size: int | None = None,
        history: HistoryStore | None = None,
        connection_state_recovery: bool | RecoveryOptions = False,
        **engine_options: Any,
    ) -> None:
        self.options = ServerOptions(
            connect_timeout=connect_timeout,
            concurrent_events=concurrent_events,
            decoder_limits=decoder_limits or DecoderLimits(),
        )
        self.serializer: Serializer = serializer or OrjsonSerializer()
        recovery = (
            RecoveryOptions() if connection_state_recovery is True
            else connection_state_recovery or None
        )
        if recovery is not None and history is None:
            history = MemoryHistory()  # recovery within this process only
        self._journal = Journal(history, self.serializer, recovery) if history is not None else None
        self._adapter_factory = adapter_factory
        if not path.startswith("/"):
            path = "/" + path
        if not path.endswith("/"):
            path += "/"
        if max_http_buffer_size is not None:
            engine_options["max_payload"] = max_http_buffer_size
        self.engine = EngineServer(self, EngineOptions(path=path, **engine_options))
        self._nsps: dict[str, Namespace] = {}
        self._parents: list[ParentNamespace] = []
        self._clients: dict[str, Client] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        # Decodes every connection's text packets (they leave no state behind; see Client).
        self._decoder = Decoder(self.serializer, self.options.decoder_limits)
        self.websocket_routes = WebSocketRoutes()
        """Plain WebSocket endpoints served beside Socket.IO (``@sio.websocket("/echo")``)."""
        self.websocket = self.websocket_routes.route
        self.of("/")

    # -- namespaces ----------------------------------------------------------------------

    def of(self, name: str | NamespaceMatcher) -> Namespace:
        """The namespace ``name``, created on first use; a regex or ``fn(name, auth)`` makes a dynamic one."""
        if isinstance(name, str):
            nsp = self._nsps.get(name)
            if nsp is None:
                nsp = Namespace(name)
                nsp._bind(self)
                self._nsps[name] = nsp
            return nsp
        parent = ParentNamespace(name)
        parent._bind(self)
        self._parents.append(parent)
        return parent

    def register_namespace(self, nsp: Namespace) -> Namespace:
        """Register a class-based namespace (a ``Namespace`` subclass with ``on_<event>`` methods)."""
        if nsp.name in self._nsps and self._nsps[nsp.name].sockets:
            raise RuntimeError(f"namespace {nsp.name!r} already has connected sockets")
        nsp._bind(self)
        self._nsps[nsp.name] = nsp
        return nsp

    @property
    def sockets(self) -> Namespace:
        """The main namespace ``/`` (as ``io.sockets`` in Node)."""
        return self._nsps["/"]

    def _namespace_for(self, name: str, auth: Any) -> Namespace | None:
        nsp = self._nsps.get(name)
        if nsp is not None:
            return nsp
        for parent in self._parents:
            child = parent.children.get(name)
            if child is not None:
                return child
            try:
                if parent.matches(name, auth):
                    return parent._create_child(name)
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

    def use(self, middleware: F) -> F:
        return self._nsps["/"].use(middleware)

    def on_any(self, listener: F) -> F:
        return self._nsps["/"].on_any(listener)

    def on_any_outgoing(self, listener: F) -> F:
        return self._nsps["/"].on_any_outgoing(listener)

    async def emit(self, event: str, *args: Any) -> None:
        await self._nsps["/"].emit(event, *args)

    def to(self, room: str | Iterable[str]) -> BroadcastOperator:
        return self._nsps["/"].to(room)

    in_ = to

    def except_(self, room: str | Iterable[str]) -> BroadcastOperator:
        return self._nsps["/"].except_(room)

    @property
    def volatile(self) -> BroadcastOperator:
        return self._nsps["/"].volatile

    @property
    def local(self) -> BroadcastOperator:
        return self._nsps["/"].local

    def timeout(self, seconds: float) -> BroadcastOperator:
        return self._nsps["/"].timeout(seconds)

    async def emit_with_ack(self, event: str, *args: Any) -> list[Any]:
        return await self._nsps["/"].emit_with_ack(event, *args)

    async def fetch_sockets(self) -> list[Socket]:
        return await self._nsps["/"].fetch_sockets()

    async def sockets_join(self, room: str | Iterable[str]) -> None:
        await self._nsps["/"].sockets_join(room)

    async def sockets_leave(self, room: str | Iterable[str]) -> None:
        await self._nsps["/"].sockets_leave(room)

    async def disconnect_sockets(self, close: bool = False) -> None:
        await self._nsps["/"].disconnect_sockets(close)

    # -- Engine.IO events ----------------------------------------------------------------------

    def on_connect(self, socket: EngineSocket) -> None:
        self._clients[socket.sid] = Client(self, socket)

    def on_message(self, socket: EngineSocket, data: str | bytes) -> None:
        client = self._clients.get(socket.sid)
        if client is not None:
            client.receive(data)

    def on_disconnect(self, socket: EngineSocket, reason: str) -> None:
        client = self._clients.pop(socket.sid, None)
        if client is not None:
            client.on_closed(reason)

    # -- tasks and shutdown --------------------------------------------------------------------

    def _spawn(self, coro: Coroutine[Any, Any, Any], *, discard: bool = True) -> asyncio.Task[Any]:
        """Run ``coro`` as a task that shutdown waits for. ``discard=False``: the coroutine
        removes its task from ``_tasks`` itself when it ends (see ``Socket._drain``)."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        if discard:
            task.add_done_callback(self._tasks.discard)
        return task

    async def startup(self) -> None:
        """Accept connections (again, after a shutdown) and open the history store now rather
        than on first use; the built-in server and the ASGI app call it when they start."""
        await self.engine.startup()
        if self._journal is not None:
            await self._journal.open()

    async def shutdown(self, timeout: float = 10.0) -> None:
        """Tell every client the server is going away and let running handlers finish within ``timeout``."""
        await self.websocket_routes.shutdown(timeout)
        for client in list(self._clients.values()):
            client.on_closed("server shutting down")
        self._clients.clear()
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=timeout)
            for task in pending:
                logger.warning("handler still running after %ss at shutdown, cancelling: %r", timeout, task)
                task.cancel()
        await self.engine.shutdown(timeout)
        if self._tasks:  # sessions being saved as their sockets left
            await asyncio.wait(set(self._tasks), timeout=timeout)
        if self._journal is not None:
            await self._journal.close()
