"""What the client keeps per namespace: its state, ids, recovery position and offline buffer."""

from __future__ import annotations

import asyncio
import enum
from collections import deque
from typing import Any

from tidings.client.retries import OutgoingEvent, RetryQueue
from tidings.protocol.socketio import Packet

__all__ = ["ClientNamespace", "NamespaceState"]


class NamespaceState(enum.Enum):
    WAITING = "waiting"  # wanted, but no Engine.IO connection to ask on yet
    CONNECTING = "connecting"  # CONNECT sent, no answer yet
    CONNECTED = "connected"
    CLOSED = "closed"  # refused, disconnected by the server, or by us: not reconnected


_TRANSITIONS: dict[NamespaceState, frozenset[NamespaceState]] = {
    NamespaceState.WAITING: frozenset({NamespaceState.CONNECTING, NamespaceState.CLOSED}),
    NamespaceState.CONNECTING: frozenset(
        {NamespaceState.CONNECTED, NamespaceState.WAITING, NamespaceState.CLOSED}
    ),
    NamespaceState.CONNECTED: frozenset({NamespaceState.WAITING, NamespaceState.CLOSED}),
    NamespaceState.CLOSED: frozenset(),
}


class ClientNamespace:
    """One namespace of a client, multiplexed with the others on one Engine.IO connection.

    ``pid`` and ``offset`` are the server's connection-state-recovery position:
    the private id from its CONNECT reply and the offset that ended the last
    event received. Both are sent back in the next CONNECT, as socket.io-client does.
    ``buffer`` holds emits made while not connected, with their ack ids; with
    ``retries``, ``retry`` holds them all instead. ``received`` holds events that
    arrived before the CONNECT reply (a recovering server replays what was missed
    first); they are handled once connected. ``auth`` is what each CONNECT sends.
    """

    __slots__ = (
        "auth",
        "buffer",
        "name",
        "offset",
        "pid",
        "received",
        "recovered",
        "retry",
        "sid",
        "state",
        "waiter",
    )

    def __init__(self, name: str, auth: Any = None, retry: RetryQueue | None = None) -> None:
        self.name = name
        self.auth = auth
        self.retry = retry
        self.state = NamespaceState.WAITING
        self.sid: str | None = None
        self.pid: str | None = None
        self.offset: str | None = None
        self.recovered = False
        self.buffer: deque[OutgoingEvent] = deque()
        self.received: list[Packet] = []  # events that came before the CONNECT reply
        self.waiter: asyncio.Future[None] | None = None

    @property
    def active(self) -> bool:
        """Whether this namespace is still wanted (reconnected after a connection loss)."""
        return self.state is not NamespaceState.CLOSED

    def set_state(self, new: NamespaceState) -> None:
        """The one way to change ``state`` (a bad transition raises); called by the multiplexer."""
        if new is self.state:
            return
        if new not in _TRANSITIONS[self.state]:
            raise RuntimeError(
                f"namespace {self.name}: invalid transition {self.state.name} -> {new.name}"
            )
        self.state = new

    def connect_payload(self, auth: dict[str, Any] | None) -> dict[str, Any] | None:
        """The CONNECT data: ``auth`` over the recovery position; called by the multiplexer."""
        if self.pid is None:
            return auth
        payload: dict[str, Any] = {"pid": self.pid}
        if self.offset is not None:
            payload["offset"] = self.offset
        if auth:
            payload.update(auth)
        return payload

    def on_connected(self, sid: str, pid: str | None) -> None:
        """The server accepted us (a recovered session keeps its pid); called by the multiplexer."""
        self.sid = sid
        self.recovered = pid is not None and pid == self.pid
        self.pid = pid
        self.set_state(NamespaceState.CONNECTED)

    def track_offset(self, args: list[Any]) -> None:
        """Keep the offset a recovering server appends to an event; called by the multiplexer."""
        if self.pid is not None and args and type(args[-1]) is str:
            self.offset = args[-1]

    def buffered_ack_ids(self) -> set[int]:
        """Ack ids of the emits still buffered or queued; called by the multiplexer."""
        ids = {m.ack_id for m in self.buffer if m.ack_id is not None}
        return ids | self.retry.ack_ids() if self.retry is not None else ids

    def unbuffer(self, ack_id: int) -> None:
        """Drop the buffered emit awaiting ``ack_id`` (given up); called by the multiplexer."""
        if self.buffer and any(m.ack_id == ack_id for m in self.buffer):
            self.buffer = deque(m for m in self.buffer if m.ack_id != ack_id)
