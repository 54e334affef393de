"""Group commit: appends that arrive while a transaction is being written share the next one.

A durable commit costs one fsync however many rows it carries, so the rate of
concurrent appends is bounded by the batch size, not by the disk's latency. No
timer is involved: a lone append is written at once, and batches form only
from the appends that queued up while the previous commit was in flight.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence

from tidings.history.base import AppendOne, NewEntry, check_entries

log = logging.getLogger("tidings.history")

WriteBatch = Callable[[list[NewEntry]], Awaitable[list[int]]]

_Item = tuple[Sequence[NewEntry], "asyncio.Future[list[int]]"]


class GroupCommit:
    """Queues appends; one writer task drains the queue, a batch per transaction.

    Each submission (an ``append`` or an ``append_many``) lands whole in one
    transaction; offsets follow the order of submission, and callers are woken
    in that order.
    """

    __slots__ = ("_closed", "_max_batch", "_queue", "_task", "_write", "commits", "entries")

    def __init__(self, write: WriteBatch, max_batch: int) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._write = write
        self._max_batch = max_batch
        self._queue: deque[_Item] = deque()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.commits = 0
        """Transactions written so far (with ``entries``: the mean batch size)."""
        self.entries = 0

    async def submit(self, entries: Sequence[NewEntry]) -> list[int]:
        if self._closed:
            raise RuntimeError("the history store is closed")
        if not entries:
            return []
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[int]] = loop.create_future()
        self._queue.append((entries, future))
        if self._task is None:
            task = loop.create_task(self._run(), name="tidings-history-commit")
            if not task.done():  # an eager task factory may have run it to its end (a failed write)
                self._task = task
        return await future

    async def close(self) -> None:
        """Refuse new submissions and wait until the queued ones are written."""
        self._closed = True
        task = self._task
        if task is not None:
            await asyncio.shield(task)

    def _take_batch(self) -> list[_Item]:
        batch: list[_Item] = []
        count = 0
        queue = self._queue
        while queue:
            entries, future = queue[0]
            if batch and count + len(entries) > self._max_batch:
                break
            queue.popleft()
            if future.cancelled():
                continue  # the caller gave up before the write began: never written
            batch.append((entries, future))
            count += len(entries)
        return batch

    async def _run(self) -> None:
        batch: list[_Item] = []
        try:
            while self._queue:
                batch = self._take_batch()
                if not batch:
                    continue
                flat = [entry for entries, _ in batch for entry in entries]
                try:
                    offsets = await self._write(flat)
                except Exception as exc:  # handed to every caller of this batch below
                    log.error("history append of %d entries failed: %r", len(flat), exc)
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    batch = []
                    continue
                self.commits += 1
                self.entries += len(flat)
                start = 0
                for entries, future in batch:
                    end = start + len(entries)
                    if not future.done():
                        future.set_result(offsets[start:end])
                    start = end
                batch = []
        except BaseException:
            # Cancelled (loop shutting down) mid-write: nobody may wait forever.
            for _, future in [*batch, *self._queue]:
                future.cancel()
            self._queue.clear()
            raise
        finally:
            self._task = None


class BatchedAppends(AppendOne):
    """``append_many`` for the stores that write through a ``GroupCommit``."""

    __slots__ = ()
    _commit: GroupCommit | None

    async def append_many(self, entries: Sequence[NewEntry]) -> list[int]:
        if self._commit is None:
            raise RuntimeError("the history store is not open")
        check_entries(entries)
        return await self._commit.submit(entries)
