"""What the engine calls on the layer above it (the Socket.IO server, or plain callbacks).

The protocol is generic in the socket it is given, so this module needs no
import of the socket's: ``EngineServer`` takes an ``EngineHandler[EngineSocket]``.
Its methods say what happened to a connection; ``on_<event>`` stays the
application's handlers' name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

__all__ = ["CallbackHandler", "EngineHandler"]

S = TypeVar("S")
S_contra = TypeVar("S_contra", contravariant=True)


class EngineHandler(Protocol[S_contra]):
    def connection_opened(self, socket: S_contra) -> None:
        """A session is open (handshake answered); called by ``EngineServer``."""
        ...

    def message_received(self, socket: S_contra, data: str | bytes) -> None:
        """One Engine.IO MESSAGE (str: text, bytes: binary); called by ``EngineSocket``."""
        ...

    def connection_closed(self, socket: S_contra, reason: str) -> None:
        """The session ended with Engine.IO's ``reason``; called by ``EngineServer``."""
        ...


class CallbackHandler(Generic[S]):
    """An ``EngineHandler`` made of optional callbacks, for a bare engine.

    Events: "connection" ``fn(socket)``, "message" ``fn(socket, data)``,
    "close" ``fn(socket, reason)``.
    """

    __slots__ = ("close", "connection", "message")

    def __init__(self) -> None:
        self.connection: Callable[[S], Any] | None = None
        self.message: Callable[[S, str | bytes], Any] | None = None
        self.close: Callable[[S, str], Any] | None = None

    def set(self, event: str, callback: Callable[..., Any]) -> None:
        """Set one callback; called by ``EngineServer.on``."""
        if event not in ("connection", "message", "close"):
            raise ValueError(f"unknown engine event {event!r}: connection, message or close")
        setattr(self, event, callback)

    def connection_opened(self, socket: S) -> None:
        if self.connection is not None:
            self.connection(socket)

    def message_received(self, socket: S, data: str | bytes) -> None:
        if self.message is not None:
            self.message(socket, data)

    def connection_closed(self, socket: S, reason: str) -> None:
        if self.close is not None:
            self.close(socket, reason)
