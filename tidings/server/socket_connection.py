"""What a socket needs of the connection it is multiplexed over (``server.connection``).

Generic in the socket type, so this module needs no import of ``tidings.server.socket``
(which uses it as ``SocketConnection[Socket]``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, TypeVar

if TYPE_CHECKING:
    from tidings.engine import EngineSocket

__all__ = ["SocketConnection"]

S_contra = TypeVar("S_contra", contravariant=True)


class SocketConnection(Protocol[S_contra]):
    """What a socket needs of the connection it is multiplexed over (``server.connection``)."""

    @property
    def conn(self) -> EngineSocket: ...

    def disconnect(self) -> None:
        """Leave every namespace as the server's decision, then close."""

    def forget(self, socket: S_contra) -> None:
        """``socket`` left its namespace: the connection no longer routes to it."""

    def close(self, reason: str) -> None:
        """Drop the whole connection: every namespace socket leaves with ``reason``."""

    def hold(self, socket: S_contra, full: bool) -> None:
        """Read nothing from the client while ``socket`` has too many events pending."""
