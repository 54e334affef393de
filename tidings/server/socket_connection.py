"""What a socket needs of the connection it is multiplexed over (``server.connection``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from tidings.engine import EngineSocket
    from tidings.server.socket import Socket

__all__ = ["SocketConnection"]


class SocketConnection(Protocol):
    """What a socket needs of the connection it is multiplexed over (``server.connection``)."""

    @property
    def conn(self) -> EngineSocket: ...

    def disconnect(self) -> None:
        """Leave every namespace as the server's decision, then close."""

    def forget(self, socket: Socket) -> None:
        """``socket`` left its namespace: the connection no longer routes to it."""

    def close(self, reason: str) -> None:
        """Drop the whole connection: every namespace socket leaves with ``reason``."""

    def hold(self, socket: Socket, full: bool) -> None:
        """Read nothing from the client while ``socket`` has too many events pending."""
