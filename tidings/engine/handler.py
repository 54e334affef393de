"""What the engine calls on the layer above it (the Socket.IO server, or plain callbacks)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from tidings.engine.socket import EngineSocket

__all__ = ["CallbackHandler", "EngineHandler"]


class EngineHandler(Protocol):
    def on_connect(self, socket: EngineSocket) -> None: ...

    def on_message(self, socket: EngineSocket, data: str | bytes) -> None: ...

    def on_disconnect(self, socket: EngineSocket, reason: str) -> None: ...


ConnectCallback = Callable[["EngineSocket"], Any]
MessageCallback = Callable[["EngineSocket", "str | bytes"], Any]
CloseCallback = Callable[["EngineSocket", str], Any]


class CallbackHandler:
    """An ``EngineHandler`` made of optional callbacks, for a bare engine.

    Events: "connection" ``fn(socket)``, "message" ``fn(socket, data)``,
    "close" ``fn(socket, reason)``.
    """

    __slots__ = ("close", "connection", "message")

    def __init__(self) -> None:
        self.connection: ConnectCallback | None = None
        self.message: MessageCallback | None = None
        self.close: CloseCallback | None = None

    def set(self, event: str, callback: Callable[..., Any]) -> None:
        if event not in ("connection", "message", "close"):
            raise ValueError(f"unknown engine event {event!r}: connection, message or close")
        setattr(self, event, callback)

    def on_connect(self, socket: EngineSocket) -> None:
        if self.connection is not None:
            self.connection(socket)

    def on_message(self, socket: EngineSocket, data: str | bytes) -> None:
        if self.message is not None:
            self.message(socket, data)

    def on_disconnect(self, socket: EngineSocket, reason: str) -> None:
        if self.close is not None:
            self.close(socket, reason)
