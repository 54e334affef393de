"""What the server and the client Engine.IO sessions share, Sans-I/O.

Both are state machines fed inputs and read for events: the transport names,
the read-only views of state, transport and close reason, the event queue and
the one place a transition is checked live here once.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any, ClassVar, Generic, TypeVar

__all__ = ["POLLING", "PROBE_REPLY", "WEBSOCKET", "SessionBase"]

POLLING = "polling"
WEBSOCKET = "websocket"
#: The server's answer to the client's "2probe" on an upgrading WebSocket.
PROBE_REPLY = "3probe"

StateT = TypeVar("StateT", bound=enum.Enum)
EventT = TypeVar("EventT")


class SessionBase(Generic[StateT, EventT]):
    """State, transport, close reason and events of one Engine.IO session.

    A subclass lists its states' allowed successors in ``TRANSITIONS`` and
    changes state only through ``_set_state``.
    """

    __slots__ = ("_close_reason", "_events", "_state", "_transport")

    #: Each state's allowed successors.
    TRANSITIONS: ClassVar[Mapping[Any, frozenset[Any]]] = {}

    def __init__(self, state: StateT, transport: str) -> None:
        if transport not in (POLLING, WEBSOCKET):
            raise ValueError(f"unknown transport {transport!r}")
        self._state = state
        self._transport = transport
        self._events: list[EventT] = []
        self._close_reason = ""

    @property
    def state(self) -> StateT:
        return self._state

    @property
    def transport(self) -> str:
        """The transport carrying the session: "polling" or "websocket"."""
        return self._transport

    @property
    def close_reason(self) -> str:
        """Why the session closed, in Engine.IO's words ("" while it is open)."""
        return self._close_reason

    def events_received(self) -> list[EventT]:
        """What happened since the last call, oldest first."""
        events = self._events
        if events:
            self._events = []
        return events

    def _set_state(self, new: StateT) -> None:
        if new not in self.TRANSITIONS[self._state]:
            raise RuntimeError(f"invalid transition {self._state.name} -> {new.name}")
        self._state = new
