"""At-least-once emits for one namespace: the JavaScript client's ``retries``.

Each emit asks for an acknowledgement and joins a queue. Only its head is in
flight: sent, then sent again (the same packet, with the same ack id) each
time ``timeout`` passes without an answer, until it is answered or has been
sent ``retries + 1`` times; a lost connection ends the try in flight, and the
head goes again as soon as the namespace is connected again. Order is kept,
and the server may see a packet more than once, as with socket.io-client.
Keeping the ack id means a late answer to an earlier try still counts, and a
second answer finds nobody waiting: acknowledged once.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tidings.client.errors import AckTimeoutError, DisconnectedError, OfflineBufferFullError

__all__ = ["OutgoingEvent", "QueuedEmit", "RetryQueue"]


@dataclass(frozen=True, slots=True)
class OutgoingEvent:
    """An event as it goes out: encoded once, with what ``on_any_outgoing`` listeners get."""

    event: str
    args: tuple[Any, ...]
    encoded: tuple[str | bytes, ...]
    """The messages the parser made of it."""
    ack_id: int | None


@dataclass(eq=False, slots=True)
class QueuedEmit:
    """One emit waiting in a ``RetryQueue``; ``future`` gets the server's answer."""

    message: OutgoingEvent
    future: asyncio.Future[list[Any]]
    timeout: float
    tries: int = 0


class RetryQueue:
    """The queue of one namespace. ``send(entry)`` writes the packet and says whether it
    could (the namespace is connected); the multiplexer calls ``resume`` when it is
    connected and ``pause`` when the connection is lost."""

    __slots__ = ("_entries", "_in_flight", "_limit", "_retries", "_send", "_timer")

    def __init__(self, retries: int, limit: int, send: Callable[[QueuedEmit], bool]) -> None:
        self._retries = retries
        self._limit = limit
        self._send = send
        self._entries: deque[QueuedEmit] = deque()
        self._in_flight = False
        self._timer: asyncio.TimerHandle | None = None

    def __len__(self) -> int:
        return len(self._entries)

    def ack_ids(self) -> set[int]:
        """The ack ids still awaited here: a lost connection must not fail them."""
        return {e.message.ack_id for e in self._entries if e.message.ack_id is not None}

    def push(self, entry: QueuedEmit) -> None:
        """Queue an emit (sent now if it is the head and the namespace is connected)."""
        if len(self._entries) >= self._limit:
            raise OfflineBufferFullError(f"retry queue is full ({self._limit} packets)")
        self._entries.append(entry)
        entry.future.add_done_callback(self._settled)
        self._send_head()

    def resume(self) -> None:
        """The namespace is connected (again): the head goes at once, as a new try."""
        self._stop_timer()
        self._in_flight = False
        self._send_head()

    def pause(self) -> None:
        """The connection is lost: the try in flight is over; the head waits for ``resume``."""
        if not self._in_flight:
            return
        self._stop_timer()
        self._in_flight = False
        head = self._entries[0]
        if head.tries > self._retries and not head.future.done():
            head.future.set_exception(DisconnectedError("disconnected, and no retry left"))

    def close(self, error: BaseException) -> None:
        """The namespace is gone for good: every emit still queued fails with ``error``."""
        self._stop_timer()
        self._in_flight = False
        entries = list(self._entries)
        self._entries.clear()
        for entry in entries:
            if not entry.future.done():
                entry.future.set_exception(error)

    def _send_head(self) -> None:
        if self._in_flight or not self._entries:
            return
        head = self._entries[0]
        if head.future.done() or not self._send(head):
            return
        head.tries += 1
        self._in_flight = True
        loop = asyncio.get_running_loop()
        self._timer = loop.call_at(loop.time() + head.timeout, self._timed_out, head)

    def _timed_out(self, head: QueuedEmit) -> None:
        self._timer = None
        self._in_flight = False
        if head.tries > self._retries:
            if not head.future.done():
                head.future.set_exception(AckTimeoutError())
            return  # _settled moves on to the next
        self._send_head()

    def _settled(self, future: asyncio.Future[list[Any]]) -> None:
        """Answered, failed, or given up by whoever awaited it: out of the queue."""
        if self._entries and self._entries[0].future is future:
            self._entries.popleft()
            self._stop_timer()
            self._in_flight = False
            self._send_head()
        else:
            self._entries = deque(e for e in self._entries if e.future is not future)

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
