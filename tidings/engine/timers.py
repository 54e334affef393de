"""One deadline heap for a whole server, driven by a single ``loop.call_at``.

Idle sessions cost a heap entry, not a task or a timer handle. Entries are
invalidated lazily: a session remembers the earliest deadline it has in the
heap, and an entry that no longer matches is skipped when it surfaces.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from typing import Protocol

__all__ = ["DeadlineHeap", "Timed"]


class Timed(Protocol):
    #: The deadline this object has in the heap, or None; owned by the heap.
    heap_deadline: float | None

    def on_deadline(self, now: float) -> None:
        """Called once ``now`` has reached the deadline; may reschedule."""
        ...


class DeadlineHeap:
    __slots__ = ("_counter", "_handle", "_heap", "_loop", "_when")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._heap: list[tuple[float, int, Timed]] = []
        self._counter = itertools.count()
        self._handle: asyncio.TimerHandle | None = None
        self._when = 0.0

    def __len__(self) -> int:
        return len(self._heap)

    def schedule(self, item: Timed, when: float | None) -> None:
        """Make sure ``item`` is woken by ``when`` (None: no deadline wanted)."""
        current = item.heap_deadline
        if when is None:
            item.heap_deadline = None  # its entries, if any, become stale
            return
        if current is not None and current <= when:
            return  # an entry at least as early exists; it will reschedule on waking
        item.heap_deadline = when
        heapq.heappush(self._heap, (when, next(self._counter), item))
        if self._handle is None or when < self._when:
            self._arm(when)

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        for _, _, item in self._heap:
            item.heap_deadline = None
        self._heap.clear()

    def _arm(self, when: float) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._when = when
        self._handle = self._loop.call_at(when, self._fire)

    def _fire(self) -> None:
        self._handle = None
        heap = self._heap
        now = self._loop.time()
        while heap and heap[0][0] <= now:
            when, _, item = heapq.heappop(heap)
            if item.heap_deadline != when:
                continue  # stale
            item.heap_deadline = None
            item.on_deadline(now)
        # A callback may have armed a later wake-up than what is left in the heap.
        if heap and (self._handle is None or heap[0][0] < self._when):
            self._arm(heap[0][0])
