"""Group commit, on a stand-in for the database write (the unit here is the queue)."""

from __future__ import annotations

import asyncio

import pytest

from tidings.history import NewEntry
from tidings.history.batching import GroupCommit


class Writer:
    """Numbers entries like a database would; each call can be held open by a gate."""

    def __init__(self) -> None:
        self.batches: list[list[bytes]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.entered = asyncio.Event()
        self.fail_next: Exception | None = None
        self.next = 1

    async def write(self, entries: list[NewEntry]) -> list[int]:
        self.batches.append([e.payload for e in entries])
        self.entered.set()
        await self.gate.wait()
        if self.fail_next is not None:
            exc, self.fail_next = self.fail_next, None
            raise exc
        start, self.next = self.next, self.next + len(entries)
        return list(range(start, self.next))


def entry(tag: str) -> NewEntry:
    return NewEntry("/", "e", tag.encode())


async def test_appends_queued_during_a_commit_share_the_next_one() -> None:
    writer = Writer()
    commit = GroupCommit(writer.write, max_batch=1000)
    writer.gate.clear()
    first = asyncio.ensure_future(commit.submit([entry("first")]))
    await writer.entered.wait()
    rest = [asyncio.ensure_future(commit.submit([entry(f"r{i}")])) for i in range(50)]
    await asyncio.sleep(0)  # let them all queue behind the held commit
    writer.gate.set()
    assert await first == [1]
    assert [await r for r in rest] == [[i] for i in range(2, 52)]
    assert [len(b) for b in writer.batches] == [1, 50]


async def test_batches_are_bounded_and_submissions_stay_whole() -> None:
    writer = Writer()
    commit = GroupCommit(writer.write, max_batch=4)
    writer.gate.clear()
    head = asyncio.ensure_future(commit.submit([entry("h")]))
    await writer.entered.wait()
    subs = [
        asyncio.ensure_future(commit.submit([entry(f"{i}a"), entry(f"{i}b"), entry(f"{i}c")]))
        for i in range(3)
    ]
    big = asyncio.ensure_future(commit.submit([entry("x")] * 6))  # larger than a batch
    await asyncio.sleep(0)
    writer.gate.set()
    await asyncio.gather(head, *subs, big)
    assert [len(b) for b in writer.batches] == [1, 3, 3, 3, 6]
    assert await big == list(range(11, 17))


async def test_a_failed_commit_fails_its_callers_only() -> None:
    writer = Writer()
    commit = GroupCommit(writer.write, max_batch=1000)
    writer.gate.clear()
    doomed = asyncio.ensure_future(commit.submit([entry("d")]))
    await writer.entered.wait()
    writer.fail_next = OSError("disk full")
    writer.gate.set()
    with pytest.raises(OSError, match="disk full"):
        await doomed
    assert await commit.submit([entry("ok")]) == [1]


async def test_a_caller_cancelled_before_the_write_is_not_written() -> None:
    writer = Writer()
    commit = GroupCommit(writer.write, max_batch=1000)
    writer.gate.clear()
    head = asyncio.ensure_future(commit.submit([entry("head")]))
    await writer.entered.wait()
    gone = asyncio.ensure_future(commit.submit([entry("gone")]))
    kept = asyncio.ensure_future(commit.submit([entry("kept")]))
    await asyncio.sleep(0)
    gone.cancel()
    writer.gate.set()
    assert await head == [1]
    assert await kept == [2]
    assert writer.batches == [[b"head"], [b"kept"]]


async def test_close_waits_for_the_queue_then_refuses() -> None:
    writer = Writer()
    commit = GroupCommit(writer.write, max_batch=1000)
    writer.gate.clear()
    pending = [asyncio.ensure_future(commit.submit([entry(str(i))])) for i in range(5)]
    await writer.entered.wait()
    closing = asyncio.ensure_future(commit.close())
    await asyncio.sleep(0)
    assert not closing.done()
    writer.gate.set()
    await closing
    assert [await p for p in pending] == [[1], [2], [3], [4], [5]]
    with pytest.raises(RuntimeError):
        await commit.submit([entry("late")])
