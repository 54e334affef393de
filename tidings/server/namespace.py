"""Namespaces: where handlers, middleware and sockets of one endpoint live.

Subclass ``Namespace`` and define ``on_<event>`` methods for class-based handlers;
``sio.of(name)`` hands back the same type, configured with decorators.
"""

from __future__ import annotations

import inspect
import logging
import re
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, overload

from tidings.errors import MigrationWarning
from tidings.handlers import Handler, call_maybe_async, python_socketio_hint
from tidings.ids import Sid
from tidings.protocol.socketio import ack_args
from tidings.server.hooks import notify
from tidings.server.journal import NamespaceHistory
from tidings.server.operators import Broadcaster, BroadcastOperator
from tidings.server.options import check_slow_consumer
from tidings.server.ratelimit import RateLimit

if TYPE_CHECKING:
    from tidings.adapters.base import Adapter, BroadcastOptions, LocalSocket, SlowConsumer
    from tidings.protocol.socketio import Packet, Parser
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
        self.limits: dict[str, RateLimit] = {}
        """Per-event rate limits (``limit``), each client's own buckets."""
        self.middlewares: list[Handler] = []
        self.any_listeners: list[Handler] = []
        self.any_outgoing_listeners: list[Handler] = []
        self.server_event_handlers: dict[str, Handler] = {}
        self.new_namespace_listeners: list[Handler] = []
        """``on("new_namespace")`` handlers; the server calls those of ``/``."""
        self.sockets: dict[Sid, LocalSocket] = {}
        """Connected sockets by id (``tidings.Socket`` objects)."""
        self.on_empty: Callable[[Namespace], None] | None = None
        """Called when its last socket, connected or connecting, has gone (set by a parent
        that removes empty children)."""
        self._present = 0
        # Set here, or the server's once bound (see ``slow_consumer``).
        self._slow_consumer: SlowConsumer | None = None
        self._policy: SlowConsumer = "disconnect"
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
                self._register(attr[3:], getattr(self, attr))

    def _register(self, event: str, fn: Callable[..., Any]) -> None:
        if event == "new_namespace":  # about the server, never a client's event
            self.new_namespace_listeners.append(Handler(fn))
        else:
            self.handlers[event] = _handler(event, fn)

    # -- wiring ---------------------------------------------------------------------

    def bind(self, server: ServerContext) -> None:
        """Attach to ``server`` and make this namespace's adapter (called by ``Server``)."""
        if self._server is not None and self._server is not server:
            raise RuntimeError(f"namespace {self.name!r} already belongs to another server")
        self._server = server
        if self._slow_consumer is None:
            self._policy = server.options.slow_consumer
        self._adapter = server.adapter_factory(self)
        server.adapter_made(self._adapter)

    @property
    def slow_consumer(self) -> SlowConsumer:
        """What a client that does not keep up may miss of what this namespace sends
        (``tidings.SlowConsumer``): the server's ``slow_consumer`` unless set here.
        Set it before clients connect; children of a dynamic namespace take their
        parent's when they are made."""
        return self._policy

    @slow_consumer.setter
    def slow_consumer(self, policy: SlowConsumer) -> None:
        check_slow_consumer(policy)
        self._slow_consumer = self._policy = policy

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
    def parser(self) -> Parser:
        """The server's packet codec: broadcasts are encoded with it once for all."""
        return self.server.parser

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

    def limit(self, event: str, rule: RateLimit) -> None:
        """Limit how often each client may send ``event`` (its own buckets per client),
        on top of the server's ``rate_limit``; what happens at the limit is ``rule.on_limit``."""
        self.limits[event] = rule

    @overload
    def on(self, event: str) -> Callable[[F], F]: ...

    @overload
    def on(self, event: str, handler: F) -> F: ...

    def on(self, event: str, handler: F | None = None) -> Callable[[F], F] | F:
        """Register ``handler`` for ``event`` (usable as ``@ns.on("event")``).

        ``connect(socket, auth)``, ``disconnecting(socket, reason)``,
        ``disconnect(socket, reason)``, ``"*"`` (socket, event, *args) for events
        without a handler, ``error(socket, exc)`` for a packet ``socket.use`` middleware
        rejected, and ``event(socket, *args)`` whose return value is the ack. On ``/``,
        ``new_namespace(nsp)`` for each namespace made afterwards, dynamic children included.
        """

        def register(fn: F) -> F:
            self._register(event, fn)
            return fn

        if handler is not None:
            return register(handler)
        return register

    def event(self, fn: F) -> F:
        """``@ns.event`` registers a handler named after the function."""
        self._register(fn.__name__, fn)
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
        if self.any_outgoing_listeners:
            notify(self.any_outgoing_listeners, self.server, socket, event, list(args))

    def socket_arrived(self) -> None:
        """A socket for this namespace was made (called by ``Socket``)."""
        self._present += 1

    def socket_gone(self) -> None:
        """A socket made here left or was refused (called by ``Socket``)."""
        self._present -= 1
        if self._present == 0 and self.on_empty is not None:
            self.on_empty(self)

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
        child.limits = self.limits
        child.middlewares = self.middlewares
        child.any_listeners = self.any_listeners
        child.any_outgoing_listeners = self.any_outgoing_listeners
        child.server_event_handlers = self.server_event_handlers
        if self._slow_consumer is not None:
            child.slow_consumer = self._slow_consumer
        child.bind(self.server)
        if self.server.options.cleanup_empty_child_namespaces:
            child.on_empty = self.remove_child
        self.children[name] = child
        return child

    def remove_child(self, child: Namespace) -> None:
        """Forget ``child`` and close its adapter: its last socket left (with
        ``cleanup_empty_child_namespaces``); a client asking for it again makes a new one."""
        if self.children.get(child.name) is child:
            del self.children[child.name]
            logger.debug("empty child namespace %s removed", child.name)
            self.server.spawn(_close_adapter(child))

    def broadcast_namespaces(self) -> tuple[Namespace, ...]:
        return tuple(self.children.values())


def _handler(event: str, fn: Callable[..., Any]) -> Handler:
    hint = python_socketio_hint(event, fn)
    if hint is not None:
        warnings.warn(hint, MigrationWarning, stacklevel=4)
    return Handler(fn)


async def _close_adapter(nsp: Namespace) -> None:
    try:
        await nsp.adapter.close()
    except Exception:
        logger.exception("namespace %s: its adapter failed to close", nsp.name)
