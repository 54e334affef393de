"""A server session's settings and the states it goes through, apart from the machine
(``ServerSession``) that moves between them."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

from tidings.protocol.engineio.session_base import WEBSOCKET

__all__ = ["SERVER_TRANSITIONS", "ServerSessionState", "SessionConfig"]


class ServerSessionState(enum.Enum):
    """Where a server-side Engine.IO session is in its life (``ServerSession.state``)."""

    OPEN = "open"  # one transport carries the session
    UPGRADING = "upgrading"  # polling still carries it; a WebSocket is being probed
    CLOSING = "closing"  # closed by the server; buffered packets and "1" await the next poll
    CLOSED = "closed"


#: The state changes a server session may make (``SessionBase`` refuses any other).
SERVER_TRANSITIONS: Mapping[ServerSessionState, frozenset[ServerSessionState]] = {
    ServerSessionState.OPEN: frozenset(
        {ServerSessionState.UPGRADING, ServerSessionState.CLOSING, ServerSessionState.CLOSED}
    ),
    ServerSessionState.UPGRADING: frozenset(
        {ServerSessionState.OPEN, ServerSessionState.CLOSING, ServerSessionState.CLOSED}
    ),
    ServerSessionState.CLOSING: frozenset({ServerSessionState.CLOSED}),
    ServerSessionState.CLOSED: frozenset(),
}


@dataclass(frozen=True, slots=True)
class SessionConfig:
    ping_interval: float = 25.0
    ping_timeout: float = 20.0
    max_payload: int = 1_000_000
    upgrade_timeout: float = 10.0
    max_buffered_bytes: int = 10_000_000
    #: Transports a polling session may upgrade to (announced in the handshake).
    upgrades: tuple[str, ...] = (WEBSOCKET,)
