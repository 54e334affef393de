"""The registration half of ``Client``'s API: which callback answers which event."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, overload

from tidings.client.arguments import check_namespace
from tidings.client.dispatch import MANAGER_EVENTS, Dispatcher

__all__ = ["HandlerRegistry"]

F = TypeVar("F", bound=Callable[..., Any])


class HandlerRegistry:
    """``on``, ``event``, ``on_manager``, ``on_any``, ``on_any_outgoing``: what they
    register, the dispatcher runs. No I/O, so ``SyncClient`` passes them straight through."""

    def __init__(self, registry: Dispatcher) -> None:
        self._registry = registry

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
        took), ``"reconnect_error"`` (the error), ``"reconnect_failed"``; the
        other connection events (``open``, ``close``, ``ping``) go to ``on_manager``.
        """
        if not isinstance(event, str) or not event:
            raise TypeError("event must be a non-empty str")
        check_namespace(namespace)

        def register(fn: F) -> F:
            self._registry.register(namespace, event, fn)
            return fn

        if handler is None:
            return register
        return register(handler)

    @overload
    def on_manager(self, event: str, handler: None = None) -> Callable[[F], F]: ...

    @overload
    def on_manager(self, event: str, handler: F) -> F: ...

    def on_manager(self, event: str, handler: F | None = None) -> Any:
        """Register ``handler`` for an event of the connection itself (``MANAGER_EVENTS``).

        As the JavaScript ``socket.io.on(...)``: ``"open"`` (each Engine.IO
        connection opened), ``"close"`` (reason, detail), ``"ping"`` (a heartbeat
        from the server), and the four reconnection events ``on`` takes too.
        """
        if event not in MANAGER_EVENTS:
            raise ValueError(f"{event!r} is not one of {sorted(MANAGER_EVENTS)}")

        def register(fn: F) -> F:
            self._registry.register("/", event, fn, manager=True)
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
        check_namespace(namespace)
        self._registry.add_any(namespace, listener)

    def on_any_outgoing(self, listener: Callable[..., Any], *, namespace: str = "/") -> None:
        """Call ``listener(event, args)`` for every event written to the server.

        As ``onAnyOutgoing``: once per write (an offline emit when it is flushed,
        a retried one at each try); a dropped volatile emit is not written.
        """
        check_namespace(namespace)
        self._registry.add_any_outgoing(namespace, listener)
