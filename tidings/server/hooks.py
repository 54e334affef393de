"""A socket's own hooks, as Node has them: packet middleware (``socket.use``) and
catch-all listeners for what it receives and sends (``on_any``, ``on_any_outgoing``).

They live in one object made on first use, so a socket without hooks pays one slot.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from tidings.handlers import Handler, call_maybe_async
from tidings.protocol.socketio import DecodeError, PacketType

if TYPE_CHECKING:
    from tidings.adapters.base import LocalConnection
    from tidings.protocol.prepared import PreparedMessage
    from tidings.server.context import ServerContext

logger = logging.getLogger("tidings.server")

__all__ = ["HookMethods", "SocketHooks", "WatchedConnection", "notify", "past_middleware"]

F = TypeVar("F", bound=Callable[..., Any])


def notify(listeners: Sequence[Handler], server: ServerContext, *args: Any) -> None:
    """Call each listener with ``args`` (a catch-all one: ``socket, event, args``); a
    coroutine listener runs as a task. One failing is logged; the others still run."""
    for listener in tuple(listeners):  # a listener may remove itself
        try:
            result = listener.call(*args)
            if inspect.isawaitable(result):
                server.spawn(_awaited(result, listener))
        except Exception:
            logger.exception("listener %r failed", listener)


async def _awaited(result: Awaitable[Any], listener: Handler) -> None:
    try:
        await result
    except Exception:
        logger.exception("listener %r failed", listener)


async def past_middleware(
    middlewares: Sequence[Handler], socket: Any, handlers: Mapping[str, Handler], data: list[Any]
) -> tuple[Handler, str, list[Any], bool] | None:
    """Run ``socket.use`` middleware in order on ``data`` (``[event, *args]``, which they may
    change), then find what handles the packet as they left it: ``(handler, event, args,
    rejected)``, the ``"*"`` handler for an event without one, or, when a middleware raised,
    the ``error`` handler with the exception (Node emits ``error`` on the socket). None when
    there is nothing to run."""
    error: Exception | None = None
    for middleware in tuple(middlewares):
        try:
            await call_maybe_async(middleware, socket, data)
        except Exception as exc:
            error = exc
            break
    if error is None and not (data and isinstance(data[0], str)):
        error = TypeError("a middleware left no event name in the packet")
    if error is not None:
        handler = handlers.get("error")
        if handler is None:
            logger.debug("packet rejected by middleware: %r", error)
            return None
        return handler, "error", [error], True
    handler = handlers.get(data[0])
    if handler is not None:
        return handler, data[0], data[1:], False
    handler = handlers.get("*")
    return (handler, data[0], data, False) if handler is not None else None


class SocketHooks:
    """What one socket registered: packet middleware and catch-all listeners, in order."""

    __slots__ = ("middlewares", "incoming", "outgoing")

    def __init__(self) -> None:
        self.middlewares: list[Handler] = []
        self.incoming: list[Handler] = []
        self.outgoing: list[Handler] = []


def _remove(listeners: list[Handler], fn: Callable[..., Any] | None) -> None:
    """Node's ``offAny``: the first registration of ``fn``, or every listener without one."""
    if fn is None:
        listeners.clear()
        return
    for i, handler in enumerate(listeners):
        if handler.fn == fn:
            del listeners[i]
            return


class HookedSocket(Protocol):
    @property
    def server(self) -> ServerContext: ...

    @property
    def namespace(self) -> str: ...


class HookMethods:
    """The hook methods of ``tidings.Socket`` (its base class)."""

    __slots__ = ("_hooks",)

    def __init__(self) -> None:
        self._hooks: SocketHooks | None = None

    def _own_hooks(self) -> SocketHooks:
        hooks = self._hooks
        if hooks is None:
            hooks = self._hooks = SocketHooks()
        return hooks

    def use(self, middleware: F) -> F:
        """Run ``middleware(socket, packet)`` on each event this client sends, before its
        handler (Node's ``socket.use``). ``packet`` is the list ``[event, *args]``, which
        the middleware may change; raising rejects the packet: it is not dispatched and the
        ``error`` handler gets ``(socket, exception)``. May be ``async``."""
        self._own_hooks().middlewares.append(Handler(middleware))
        return middleware

    def on_any(self, listener: F) -> F:
        """Call ``listener(socket, event, args)`` for every event this client sends, before
        middleware and handlers (Node's ``socket.onAny``)."""
        self._own_hooks().incoming.append(Handler(listener))
        return listener

    def prepend_any(self, listener: F) -> F:
        """``on_any``, called before the listeners already there."""
        self._own_hooks().incoming.insert(0, Handler(listener))
        return listener

    def off_any(self, listener: Callable[..., Any] | None = None) -> None:
        """Remove ``listener`` (its first registration), or every ``on_any`` listener."""
        if self._hooks is not None:
            _remove(self._hooks.incoming, listener)

    def listeners_any(self) -> list[Callable[..., Any]]:
        return [h.fn for h in self._hooks.incoming] if self._hooks is not None else []

    def on_any_outgoing(self, listener: F) -> F:
        """Call ``listener(socket, event, args)`` for every event sent to this client: its own
        emits and the broadcasts that reach it, not acks (Node's ``socket.onAnyOutgoing``)."""
        self._own_hooks().outgoing.append(Handler(listener))
        return listener

    def prepend_any_outgoing(self, listener: F) -> F:
        """``on_any_outgoing``, called before the listeners already there."""
        self._own_hooks().outgoing.insert(0, Handler(listener))
        return listener

    def off_any_outgoing(self, listener: Callable[..., Any] | None = None) -> None:
        """Remove ``listener`` (its first registration), or every ``on_any_outgoing`` listener."""
        if self._hooks is not None:
            _remove(self._hooks.outgoing, listener)

    def listeners_any_outgoing(self) -> list[Callable[..., Any]]:
        return [h.fn for h in self._hooks.outgoing] if self._hooks is not None else []


class WatchedConnection:
    """A socket's writer while it has outgoing listeners, as adapters see it: what they
    write (a broadcast, encoded once for all) is decoded back for the listeners, then
    passed on unchanged. Only sockets with such listeners pay for the decoding."""

    __slots__ = ("_inner", "_socket", "_listeners")

    def __init__(self, inner: LocalConnection, socket: HookedSocket, listeners: list[Handler]) -> None:
        self._inner = inner
        self._socket = socket
        self._listeners = listeners

    @property
    def writable(self) -> bool:
        return self._inner.writable

    def send(self, data: str | bytes) -> None:
        self._see((data,))
        self._inner.send(data)

    def send_prepared(self, prepared: PreparedMessage) -> None:
        self._see(prepared.parts)
        self._inner.send_prepared(prepared)

    def _see(self, parts: Sequence[str | bytes]) -> None:
        socket = self._socket
        server = socket.server
        decoder = server.parser.decoder(server.options.decoder_limits)
        try:
            packet = None
            for part in parts:
                packet = decoder.receive(part)
        except DecodeError as exc:  # more than a client may send (the decoder's limits)
            logger.debug("outgoing listeners skip a packet they cannot read: %s", exc)
            return
        if packet is None or packet.type is not PacketType.EVENT or packet.namespace != socket.namespace:
            return
        data = packet.data
        notify(self._listeners, socket.server, socket, data[0], data[1:])
