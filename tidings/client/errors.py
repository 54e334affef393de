"""Exceptions the client raises (acknowledgement errors are shared with the server)."""

from __future__ import annotations

from typing import Any

from tidings.errors import AckTimeoutError, DisconnectedError

__all__ = ["AckTimeoutError", "ConnectError", "DisconnectedError", "OfflineBufferFullError"]


class ConnectError(ConnectionError):
    """A connection could not be made, or the server refused a namespace.

    For a refusal (a CONNECT_ERROR packet) ``message`` and ``data`` are what the
    server's middleware or connect handler gave ``ConnectionRefusedError``.
    """

    def __init__(self, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.data = data


class OfflineBufferFullError(DisconnectedError):
    """An emit while disconnected found the offline buffer full; the packet was not queued."""
