"""Namespaces: where handlers, middleware and sockets of one endpoint live.

Subclass ``Namespace`` and define ``on_<event>`` methods for class-based handlers;
``sio.of(name)`` hands back the same type, configured with decorators.
"""

from __future__ import annotations

import inspect
import logging
import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar, overload

from tidings.handlers import Handler
from tidings.ids import Sid
from tidings.server.journal import NamespaceHistory
from tidings.server.operators import BroadcastOperator

if TYPE_CHECKING:
    from tidings.adapters.base import Adapter
    from tidings.serializers import Serializer
    from tidings.server.server import Server
    from tidings.server.socket import Socket

logger = logging.getLogger("tidings.server")

F = TypeVar("F", bound=Callable[..., Any])
NamespaceMatcher = re.Pattern[str] | Callable[[str, Any], bool]


class Namespace:
    def __init__(self, name: str = "/") -> None:
        if not name.startswith("/"):
            raise ValueError(f"namespace must start with '/': {name!r}")
        self.name = name
        self.handlers: dict[str, Handler] = {}
        self.middlewares: list[Handler] = []
        self.any_listeners: list[Handler] = []
        self.any_outgoing_listeners: list[Handler] = []
        self.sockets: dict[Sid, Socket] = {}
        self._server: Server | None = None
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

    def _bind(self, server: Server) -> None:
        if self._server is not None and self._server is not server:
            raise RuntimeError(f"namespace {self.name!r} already belongs to another server")
        self._server = server
        self._adapter = server._adapter_factory(self)

    @property
    def server(self) -> Server:
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
    def history(self) -> NamespaceHistory:
        """What was emitted here, for a late joiner (needs ``Server(history=...)``)."""
        return NamespaceHistory(self)

    def _next_ack_id(self) -> int:
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

    def _notify_outgoing(self, socket: Socket | None, event: str, args: tuple[Any, ...]) -> None:
        for listener in self.any_outgoing_listeners:
            try:
                listener.call(socket, event, list(args))
            except Exception:
                logger.exception("outgoing listener failed on %r", event)

    # -- broadcasting -------------------------------------------------------------------

    def _broadcast_namespaces(self) -> tuple[Namespace, ...]:
        return (self,)

    def _operator(self) -> BroadcastOperator:
        return BroadcastOperator(self._broadcast_namespaces())

    async def emit(self, event: str, *args: Any) -> None:
        await self._operator().emit(event, *args)

    def to(self, room: str | Iterable[str]) -> BroadcastOperator:
        return self._operator().to(room)

    in_ = to

    def except_(self, room: str | Iterable[str]) -> BroadcastOperator:
        return self._operator().except_(room)

    @property
    def volatile(self) -> BroadcastOperator:
        return self._operator().volatile

    @property
    def local(self) -> BroadcastOperator:
        return self._operator().local

    def timeout(self, seconds: float) -> BroadcastOperator:
        return self._operator().timeout(seconds)

    async def emit_with_ack(self, event: str, *args: Any) -> list[Any]:
        return await self._operator().emit_with_ack(event, *args)

    async def fetch_sockets(self) -> list[Socket]:
        return await self._operator().fetch_sockets()

    async def sockets_join(self, room: str | Iterable[str]) -> None:
        await self._operator().sockets_join(room)

    async def sockets_leave(self, room: str | Iterable[str]) -> None:
        await self._operator().sockets_leave(room)

    async def disconnect_sockets(self, close: bool = False) -> None:
        await self._operator().disconnect_sockets(close)

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

    def _create_child(self, name: str) -> Namespace:
        child = Namespace(name)
        child.handlers = self.handlers
        child.middlewares = self.middlewares
        child.any_listeners = self.any_listeners
        child.any_outgoing_listeners = self.any_outgoing_listeners
        child._bind(self.server)
        self.children[name] = child
        return child

    def _broadcast_namespaces(self) -> tuple[Namespace, ...]:
        return tuple(self.children.values())
