"""What a WebSocket connection reports (events), its states and its errors."""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = [
    "BinaryMessage",
    "Closed",
    "Event",
    "InvalidState",
    "Ping",
    "Pong",
    "ProtocolError",
    "TextMessage",
    "WebSocketState",
]


class WebSocketState(enum.Enum):
    """Where an RFC 6455 connection is in its life (``ServerConnection.state``)."""

    OPEN = 1
    CLOSING = 2  # we sent a close frame and wait for the peer's
    CLOSED = 3  # the close handshake is over or the connection failed: close TCP


@dataclass(frozen=True, slots=True, init=False)
class TextMessage:
    data: str

    def __init__(self, data: str) -> None:
        # One per message read: the slot is written directly, not through the frozen
        # dataclass's object.__setattr__.
        _set_text_data(self, data)


@dataclass(frozen=True, slots=True, init=False)
class BinaryMessage:
    data: bytes

    def __init__(self, data: bytes) -> None:
        _set_binary_data(self, data)


_set_text_data = vars(TextMessage)["data"].__set__
_set_binary_data = vars(BinaryMessage)["data"].__set__


@dataclass(frozen=True, slots=True)
class Ping:
    payload: bytes


@dataclass(frozen=True, slots=True)
class Pong:
    payload: bytes


@dataclass(frozen=True, slots=True)
class Closed:
    """The connection reached CLOSED: the peer's code and reason if it sent a close frame,
    1006 if TCP ended without one, else the code we failed the connection with."""

    code: int
    reason: str


Event = TextMessage | BinaryMessage | Ping | Pong | Closed


class ProtocolError(Exception):
    """What the peer did wrong; ``code`` is the close code sent for it."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


class InvalidState(RuntimeError):
    """Local misuse: sending on a connection that is no longer open."""
