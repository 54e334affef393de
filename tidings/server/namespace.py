"""Namespaces: where handlers, middleware and sockets of one endpoint live.

Subclass ``Namespace`` and define ``on_<event>`` methods for class-based handlers;
``sio.of(name)`` hands back the same type, configured with decorators.
"""

from __future__ import annotations

import inspect
import logging
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, overload

from tidings.handlers import Handler, call_maybe_async
from tidings.ids import Sid
from tidings.protocol.socketio import ack_args
from tidings.server.journal import NamespaceHistory
from tidings.server.operators import Broadcaster, BroadcastOperator

if TYPE_CHECKING:
    from tidings.adapters.base import Adapter, BroadcastOptions, LocalSocket
    from tidings.protocol.socketio import Packet
    from tidings.serializers import Serializer
    from tidings.server.context import ServerContext
    from tidings.server.journal import Journal

logger = logging.getLogger("tidings.server")

F = TypeVar("F", bound=Callable[..., Any])
NamespaceMatcher = re.Pattern[str] | Callable[[str, Any], bool]


class Namespace(Broadcaster):
    """Handlers, middleware and sockets of one endpoint; also its broadcast operators."""

    def __init__(self, name: str = "/") -> None:
        if not name.startswith("/"):
            raise ValueError(f"namespace must start with '/': {name!r}")
        self.name = name
        self.handlers: dict[str, Handler] = {}
        self.middlewares: list[Handler] = []
        self.any_listeners: list[Handler] = []
        self.any_outgoing_listeners: list[Handler] = []
        self.server_event_handlers: dict[str, Handler] = {}
        self.sockets: dict[Sid, LocalSocket] = {}
        """Connected sockets by id (``tidings.Socket`` objects)."""
        self._server: ServerContext | None = None
        self._adapter: Adapter | None = None
        self._ack_id = 0
        self._collect_methods()

    def _collect_methods(self) -> None:
        """Class-based handlers: every ``on_<event>`` method of a subclass."""
        if type(self) is Namespace or type(self) is ParentNamespace:
            return
        for attr in dir(type(self)):
            if attr.startswith("on_") and attr not in ("on_any", "on_any_outgoing") and callable(
                getattr(type(self), attr)
            ):
                self.handlers[attr[3:]] = Handler(getattr(self, attr))

    # -- wiring ---------------------------------------------------------------------

    def bind(self, server: ServerContext) -> None:
        """Attach to ``server`` and make this namespace's adapter (called by ``Server``)."""
        if self._server is not None and self._server is not server:
            raise RuntimeError(f"namespace {self.name!r} already belongs to another server")
        self._server = server
        self._adapter = server.adapter_factory(self)
        server.adapter_made(self._adapter)

    @property
    def server(self) -> ServerContext:
        if self._server is None:
            raise RuntimeError(f"namespace {self.name!r} is not registered with a server")
        return self._server

    @property
    def adapter(self) -> Adapter:
        if self._adapter is None:
            raise RuntimeError(f"namespace {self.name!r} is not registered with a server")
        return self._adapter

    @property
    def serializer(self) -> Serializer:
        return self.server.serializer

    @property
    def journal(self) -> Journal | None:
        """The server's history in use, if any (read by sockets and broadcasts)."""
        return self.server.journal

    @property
    def history(self) -> NamespaceHistory:
        """What was emitted here, for a late joiner (needs ``Server(history=...)``)."""
        return NamespaceHistory(lambda: self.server.journal, self.name)

    def next_ack_id(self) -> int:
        """A new ack id, for a socket's emit or a broadcast (called by sockets and operators)."""
        # One counter per namespace, as Node does, so a broadcast packet carries one id for all.
        self._ack_id += 1
        return self._ack_id

    # -- registration -----------------------------------------------------------------

    @overload
    def on(self, event: str) -> Callable[[F], F]: ...

    @overload
    def on(self, event: str, handler: F) -> F: ...

    def on(self, event: str, handler: F | None = None) -> Callable[[F], F] | F:
        """Register ``handler`` for ``event`` (usable as ``@ns.on("event")``).

        ``connect(socket, auth)``, ``disconnecting(socket, reason)``,
        ``disconnect(socket, reason)``, ``"*"`` (socket, event, *args) for events
        without a handler, and ``event(socket, *args)`` whose return value is the ack.
        """

        def register(fn: F) -> F:
            self.handlers[event] = Handler(fn)
            return fn

        if handler is not None:
            return register(handler)
        return register

    def event(self, fn: F) -> F:
        """``@ns.event`` registers a handler named after the function."""
        self.handlers[fn.__name__] = Handler(fn)
        return fn

    def use(self, middleware: F) -> F:
        """Run ``middleware(socket)`` on each connection; raise ``ConnectionRefusedError`` to refuse."""
        self.middlewares.append(Handler(middleware))
        return middleware

    def on_any(self, listener: F) -> F:
        """Call ``listener(socket, event, args)`` for every incoming event."""
        self.any_listeners.append(Handler(listener))
        return listener

    def on_any_outgoing(self, listener: F) -> F:
        """Call ``listener(socket, event, args)`` for every outgoing event (socket is None for a broadcast)."""
        self.any_outgoing_listeners.append(Handler(listener))
        return listener

    def on_server_event(self, event: str) -> Callable[[F], F]:
        """Register ``handler(*args)`` for what other servers send with ``server_side_emit``;
        its return value answers ``server_side_emit_with_ack`` (Node: ``io.on(event)``)."""

        def register(fn: F) -> F:
            self.server_event_handlers[event] = Handler(fn)
            return fn

        return register

    async def server_side_emit(self, event: str, *args: Any) -> None:
        """Send an event to this namespace on the other servers of the cluster."""
        await self.adapter.server_side_emit([event, *args])

    async def server_side_emit_with_ack(
        self, event: str, *args: Any, timeout: float | None = 5.0
    ) -> list[Any]:
        """Send an event to the other servers and return one answer from each; raises
        ``AckTimeoutError`` (with the answers that came) when some did not answer in time."""
        return await self.adapter.server_side_emit_with_ack([event, *args], timeout)

    def receive_server_side_emit(self, data: list[Any], ack: Callable[[Any], None] | None) -> None:
        """Another server's event: run its handler (called by the adapter)."""
        if not data or not isinstance(data[0], str):
            logger.warning("server-side event without a name dropped")
            return
        handler = self.server_event_handlers.get(data[0])
        if handler is None:
            logger.debug("no handler for server-side event %r", data[0])
            return
        self.server.spawn(self._run_server_event(handler, data[0], data[1:], ack))

    async def _run_server_event(
        self, handler: Handler, event: str, args: list[Any], ack: Callable[[Any], None] | None
    ) -> None:
        try:
            result = await call_maybe_async(handler, *args)
        except Exception:
            logger.exception("server-side event handler for %r failed", event)
            return
        if ack is not None:
            answer = ack_args(result)
            ack(answer[0] if answer else None)

    def receive_broadcast(self, packet: Packet, opts: BroadcastOptions) -> bool:
        """A broadcast from another node (called by a cluster adapter): True when this
        namespace delivers it itself, in offset order with every other logged event
        (connection state recovery); False when the adapter should deliver it now."""
        journal = self.server.journal
        if journal is None:
            return False
        return journal.offer(self.adapter, packet, opts)

    def notify_outgoing(self, socket: Any, event: str, args: tuple[Any, ...]) -> None:
        """Tell the ``on_any_outgoing`` listeners (called by sockets and operators)."""
        for listener in self.any_outgoing_listeners:
            try:
                listener.call(socket, event, list(args))
            except Exception:
                logger.exception("outgoing listener failed on %r", event)

    # -- broadcasting: the operator methods come from ``Broadcaster`` ------------------

    def broadcast_namespaces(self) -> tuple[Namespace, ...]:
        """The namespaces an emit here reaches: this one (a dynamic parent: its children)."""
        return (self,)

    def operator(self) -> BroadcastOperator:
        return BroadcastOperator(self.broadcast_namespaces())

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} sockets={len(self.sockets)}>"


class ParentNamespace(Namespace):
    """A dynamic namespace: a template for every name its matcher accepts.

    Children share the parent's handler tables, so handlers registered later apply to
    all of them; a broadcast on the parent reaches every child.
    """

    def __init__(self, matcher: NamespaceMatcher) -> None:
        super().__init__("/_parent")
        self.matcher = matcher
        self.children: dict[str, Namespace] = {}

    def matches(self, name: str, auth: Any) -> bool:
        if isinstance(self.matcher, re.Pattern):
            return self.matcher.fullmatch(name) is not None
        result = self.matcher(name, auth)
        if inspect.isawaitable(result):
            raise TypeError("dynamic namespace matchers must be synchronous")
        return bool(result)

    def create_child(self, name: str) -> Namespace:
        """The namespace ``name`` that this parent's matcher accepted (called by ``Server``)."""
        child = Namespace(name)
        child.handlers = self.handlers
        child.middlewares = self.middlewares
        child.any_listeners = self.any_listeners
        child.any_outgoing_listeners = self.any_outgoing_listeners
        child.server_event_handlers = self.server_event_handlers
        child.bind(self.server)
        self.children[name] = child
        return child

    def broadcast_namespaces(self) -> tuple[Namespace, ...]:
        return tuple(self.children.values())
