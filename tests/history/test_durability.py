"""What a durable store promises: offsets and entries outlive the process that wrote them."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

from tidings.history import HistoryStore, NewEntry, RetentionPolicy, SessionRecord

from .conftest import PG_DSN, REDIS_URL, Backend

WRITER = Path(__file__).with_name("writer_process.py")
NAMESPACE = "/durable"
KEEP_ALL = RetentionPolicy(None, None, None)


async def _everything(store: HistoryStore) -> dict[int, bytes]:
    found: dict[int, bytes] = {}
    cursor = 0
    while batch := await store.since(NAMESPACE, cursor, limit=1000):
        found.update((e.offset, e.payload) for e in batch)
        cursor = batch[-1].offset
    return found


def _parse(lines: list[bytes]) -> dict[int, bytes]:
    printed: dict[int, bytes] = {}
    for line in lines:
        offset, payload = line.split()
        assert int(offset) not in printed, "an offset was given twice"
        printed[int(offset)] = payload
    return printed


async def _writer(durable: Backend, *gate: str) -> asyncio.subprocess.Process:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(WRITER),
        durable.name,
        durable.target,
        REDIS_URL if durable.name == "redis" else PG_DSN,
        "8",  # concurrent appenders: the kill lands in the middle of group commits
        *gate,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    first = await asyncio.wait_for(proc.stdout.readline(), 30)
    if first != b"ready\n":
        proc.kill()
        error = await proc.stderr.read()
        raise AssertionError(f"writer did not start: {first!r} {error.decode()}")
    return proc


async def _lines_until_killed(*procs: asyncio.subprocess.Process, count: int) -> list[list[bytes]]:
    """At least ``count`` lines from every process, then SIGKILL to all, then every whole
    line each printed before it. No process is killed before the slowest reaches ``count``,
    so a writer that started late (a busy machine, a lock held by the other) still writes
    while the others do."""
    found: list[list[bytes]] = [[] for _ in procs]
    reached = [asyncio.Event() for _ in procs]

    async def read(i: int, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        lines = found[i]
        while not all(e.is_set() for e in reached):
            line = await asyncio.wait_for(proc.stdout.readline(), 30)
            assert line.endswith(b"\n"), "writer stopped early"
            lines.append(line)
            if len(lines) >= count:
                reached[i].set()

    try:
        await asyncio.gather(*(read(i, p) for i, p in enumerate(procs)))
    finally:
        for proc in procs:
            proc.kill()  # SIGKILL: no atexit, no close, no flush of anything
    for proc, lines in zip(procs, found):
        assert proc.stdout is not None
        rest = await asyncio.wait_for(proc.stdout.read(), 30)
        assert await proc.wait() == -signal.SIGKILL
        lines.extend(line + b"\n" for line in rest.split(b"\n")[:-1])
    return found


async def test_every_returned_offset_survives_sigkill(durable: Backend) -> None:
    proc = await _writer(durable)
    (lines,) = await _lines_until_killed(proc, count=400)
    printed = _parse(lines)
    assert len(printed) >= 400

    store = await durable.open(KEEP_ALL)
    session = await store.take_session("pid-durable", max_age=60.0, now=10.0)
    assert session is not None and session.rooms == ("r",)
    stored = await _everything(store)
    for offset, payload in printed.items():
        assert stored.get(offset) == payload, offset
    # committed-but-unprinted entries may exist; holes may not
    assert sorted(stored) == list(range(1, len(stored) + 1))
    assert await store.last_offset(NAMESPACE) == len(stored)
    assert await store.append(NAMESPACE, "e", b"after", now=2.0) == len(stored) + 1


async def test_two_processes_on_one_storage_share_one_sequence(durable: Backend) -> None:
    """Two processes appending at once (workers on one SQLite file, nodes on one database):
    no offset given twice, none missing, each process's own in increasing order."""
    first, second = await _writer(durable, "gate"), await _writer(durable, "gate")
    for proc in (first, second):
        assert proc.stdin is not None
        proc.stdin.write(b"go\n")
    a, b = await _lines_until_killed(first, second, count=300)
    mine, theirs = _parse(a), _parse(b)
    assert not mine.keys() & theirs.keys(), "an offset was given to both processes"
    store = await durable.open(KEEP_ALL)
    stored = await _everything(store)
    assert sorted(stored) == list(range(1, len(stored) + 1))
    for offset, payload in {**mine, **theirs}.items():
        assert stored[offset] == payload
    # both really wrote concurrently: their offsets interleave
    assert min(theirs) < max(mine) and min(mine) < max(theirs)


async def test_two_writers_on_one_storage_share_one_sequence(durable: Backend) -> None:
    """Two stores on one file / database, as two server processes would be."""
    one = await durable.open(KEEP_ALL)
    two = await durable.open(KEEP_ALL)

    async def burst(store: HistoryStore, tag: str) -> list[int]:
        return list(
            await asyncio.gather(
                *(store.append(NAMESPACE, "e", f"{tag}{i}".encode(), now=1.0) for i in range(100))
            )
        )

    a, b = await asyncio.gather(burst(one, "a"), burst(two, "b"))
    assert sorted(a + b) == list(range(1, 201))
    assert a == sorted(a) and b == sorted(b)
    stored = await _everything(one)
    assert sorted(stored) == list(range(1, 201))
    assert {stored[o] for o in a} == {f"a{i}".encode() for i in range(100)}


async def test_a_reader_never_sees_a_later_offset_before_an_earlier_one(durable: Backend) -> None:
    """Had offsets come from a non-transactional sequence, a reader could see 7 before 6
    commits, and a client holding 7 would never be replayed 6."""
    writers = [await durable.open(KEEP_ALL) for _ in range(2)]
    reader = await durable.open(KEEP_ALL)
    done = False

    async def write(store: HistoryStore) -> None:
        for _ in range(10):
            await asyncio.gather(*(store.append(NAMESPACE, "e", b"x", now=1.0) for _ in range(20)))

    async def read() -> int:
        cursor = 0
        while True:
            finished = done
            batch = await reader.since(NAMESPACE, cursor, limit=1000)
            got = [e.offset for e in batch]
            assert got == list(range(cursor + 1, cursor + 1 + len(got))), (cursor, got[:5])
            cursor += len(got)
            if finished and not got:
                return cursor
            await asyncio.sleep(0)

    reading = asyncio.create_task(read())
    await asyncio.gather(*(write(w) for w in writers))
    done = True
    assert await reading == 400


async def test_sessions_outlive_the_process(durable: Backend) -> None:
    store = await durable.open()
    record = SessionRecord("pid-x", "sid-x", NAMESPACE, ("sid-x", "room"), b"{}", 50.0)
    await store.save_session(record)
    await store.close()
    again = await durable.open()
    assert await again.take_session("pid-x", max_age=60.0, now=60.0) == record
    await again.close()
    third = await durable.open()
    assert await third.take_session("pid-x", max_age=60.0, now=60.0) is None


async def test_prune_runs_alongside_appends_to_several_namespaces(durable: Backend) -> None:
    """Appends lock several counters at once and prune locks them all: same order, no deadlock."""
    policy = RetentionPolicy(max_entries_per_namespace=50, max_age_seconds=5.0)
    writers = [await durable.open(policy) for _ in range(2)]
    pruner = await durable.open(policy)
    names = ["/a", "/b", "/c"]

    async def write(store: HistoryStore, order: list[str]) -> None:
        for t in range(40):
            batch = [NewEntry(name, "e", b"x", created_at=float(t)) for name in order]
            await asyncio.gather(*(store.append_many(batch) for _ in range(5)))

    async def prune() -> None:
        for t in range(20):
            await pruner.prune(now=float(t * 2))

    # what counts first: it ends (no deadlock) and nothing raised
    await asyncio.gather(write(writers[0], names), write(writers[1], names[::-1]), prune())
    await pruner.prune(now=40.0)  # cutoff 35, after every append
    for name in names:
        assert await pruner.last_offset(name) == 400
        kept = await pruner.since(name, 0)
        # the two writers interleave, so created_at is not monotonic in offsets
        assert kept[-1].offset == 400 and kept[0].offset >= 351
        assert all(e.created_at >= 35.0 for e in kept)
        assert await pruner.covers(name, 400)
