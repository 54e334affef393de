"""The one exception the Socket.IO decoder raises."""

from __future__ import annotations

__all__ = ["DecodeError"]


class DecodeError(Exception):
    """The peer sent something that is not a valid Socket.IO packet.

    Every bad input raises this and nothing else, so the session layer maps it
    to one close ("parse error", as the reference server says) in one place.
    ``reason`` is a short description for the log.
    """

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
