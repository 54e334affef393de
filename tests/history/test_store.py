"""The HistoryStore contract, run against every backend (see conftest.py)."""

from __future__ import annotations

import asyncio
import itertools
import random

import pytest

from tidings.history import (
    LIVE,
    HistoryStore,
    NewEntry,
    RetentionPolicy,
    SessionRecord,
)

from .conftest import Backend

NS = "/chat"
UNBOUNDED = RetentionPolicy(None, None, None)


async def test_is_a_history_store(store: HistoryStore) -> None:
    assert isinstance(store, HistoryStore)


async def test_append_then_since_keeps_order_and_fields(store: HistoryStore) -> None:
    payload = b'2["msg","caf\xc3\xa9"]\x00'
    first = await store.append(
        NS,
        "msg",
        payload,
        rooms=["a", "b", "a"],
        except_rooms=("c",),
        attachments=[b"\x00\xff", b""],
        now=1000.5,
    )
    offsets = [first]
    for i in range(4):
        offsets.append(await store.append(NS, "tick", f"2[{i}]".encode(), now=1001.0 + i))
    assert offsets == [1, 2, 3, 4, 5]

    entries = await store.since(NS, 0)
    assert [e.offset for e in entries] == offsets
    head = entries[0]
    assert head.namespace == NS
    assert head.rooms == ("a", "b")
    assert head.except_rooms == ("c",)
    assert head.event == "msg"
    assert head.payload == payload
    assert head.attachments == (b"\x00\xff", b"")
    assert head.created_at == 1000.5
    assert entries[1].rooms == () and entries[1].attachments == ()
    assert [e.payload for e in entries[1:]] == [b"2[0]", b"2[1]", b"2[2]", b"2[3]"]

    assert [e.offset for e in await store.since(NS, 3)] == [4, 5]
    assert [e.offset for e in await store.since(NS, 0, limit=2)] == [1, 2]
    assert await store.since(NS, 5) == []
    assert await store.last_offset(NS) == 5


async def test_each_namespace_has_its_own_sequence(store: HistoryStore) -> None:
    assert await store.append(NS, "e", b"x", now=1.0) == 1
    assert await store.append("/other", "e", b"y", now=1.0) == 1
    assert await store.append(NS, "e", b"z", now=1.0) == 2
    assert [e.payload for e in await store.since("/other", 0)] == [b"y"]
    assert await store.since("/nowhere", 0) == []
    assert await store.last_offset("/nowhere") == 0


async def test_last_is_per_room_and_oldest_first(store: HistoryStore) -> None:
    await store.append(NS, "e", b"1", rooms=["a"], now=1.0)
    await store.append(NS, "e", b"2", rooms=["b"], now=2.0)
    await store.append(NS, "e", b"3", rooms=["a", "b"], now=3.0)
    await store.append(NS, "e", b"4", now=4.0)
    await store.append(NS, "e", b"5", rooms=["a"], now=5.0)

    assert [e.payload for e in await store.last(NS, None, 2)] == [b"4", b"5"]
    assert [e.payload for e in await store.last(NS, "a", 2)] == [b"3", b"5"]
    assert [e.payload for e in await store.last(NS, "a", 10)] == [b"1", b"3", b"5"]
    assert [e.payload for e in await store.last(NS, "b", 10)] == [b"2", b"3"]
    assert await store.last(NS, "a", 0) == []
    assert await store.last(NS, "nobody", 5) == []
    assert await store.last("/nowhere", None, 5) == []


async def test_since_filters_by_the_socket_rooms(store: HistoryStore) -> None:
    await store.append(NS, "e", b"to a,b except c", rooms=["A", "B"], except_rooms=["C"], now=1)
    await store.append(NS, "e", b"to all", now=1)
    await store.append(NS, "e", b"to all except c", except_rooms=["C"], now=1)
    await store.append(NS, "e", b"to d", rooms=["D"], now=1)

    async def seen(*rooms: str) -> list[int]:
        return [e.offset for e in await store.since(NS, 0, rooms=rooms)]

    assert await seen("A") == [1, 2, 3]
    assert await seen("B", "X") == [1, 2, 3]
    assert await seen("A", "C") == [2]
    assert await seen("C") == [2]
    assert await seen("D") == [2, 3, 4]
    assert await seen() == [2, 3]
    assert await seen("A", "D") == [1, 2, 3, 4]
    # limit counts what passes the filter
    assert [e.offset for e in await store.since(NS, 0, rooms=["D"], limit=2)] == [2, 3]


async def test_room_filter_agrees_with_the_broadcast_rule(store: HistoryStore) -> None:
    """Random entries over four rooms; every subset of rooms as a socket, against Entry.visible_to."""
    rng = random.Random(6)
    universe = ["r1", "r2", "r3", "über"]
    for i in range(60):
        rooms = rng.sample(universe, rng.randint(0, 3))
        excepted = rng.sample(universe, rng.randint(0, 2))
        await store.append(NS, "e", str(i).encode(), rooms=rooms, except_rooms=excepted, now=i)
    everything = await store.since(NS, 0)
    assert len(everything) == 60
    for size in range(len(universe) + 1):
        for mine in itertools.combinations(universe, size):
            expected = [e.offset for e in everything if e.visible_to(mine)]
            got = [e.offset for e in await store.since(NS, 0, rooms=mine)]
            assert got == expected, mine


async def test_append_many_is_one_ordered_unit(store: HistoryStore) -> None:
    await store.append(NS, "e", b"before", now=1.0)
    offsets = await store.append_many(
        [
            NewEntry(NS, "e", b"m1", rooms=("a",), created_at=2.0),
            NewEntry("/other", "e", b"o1", created_at=2.0),
            NewEntry(NS, "e", b"m2", attachments=(b"bin",), created_at=2.0),
        ]
    )
    assert offsets == [2, 1, 3]
    assert [e.payload for e in await store.since(NS, 1)] == [b"m1", b"m2"]
    assert (await store.since(NS, 2))[0].attachments == (b"bin",)
    assert await store.append_many([]) == []


async def test_concurrent_appends_get_distinct_increasing_offsets(store: HistoryStore) -> None:
    async def one(i: int) -> int:
        return await store.append(NS, "e", str(i).encode(), rooms=[f"r{i % 3}"], now=float(i))

    offsets = await asyncio.gather(*(one(i) for i in range(100)))
    # group commit keeps submission order: the i-th caller gets offset i + 1
    assert offsets == list(range(1, 101))
    entries = await store.since(NS, 0, limit=1000)
    assert [e.offset for e in entries] == offsets
    assert [e.payload for e in entries] == [str(i).encode() for i in range(100)]

    more = await asyncio.gather(
        *(store.append(NS if i % 2 else "/b", "e", b"x", now=0.0) for i in range(100))
    )
    assert sorted(o for i, o in enumerate(more) if i % 2) == list(range(101, 151))
    assert sorted(o for i, o in enumerate(more) if not i % 2) == list(range(1, 51))


async def test_offsets_continue_after_close_and_reopen(backend: Backend) -> None:
    policy = RetentionPolicy(None, max_age_seconds=1.0)
    store = await backend.open(policy)
    for i in range(3):
        await store.append(NS, "e", str(i).encode(), now=10.0)
    await store.close()

    again = await backend.open(policy)
    assert await again.last_offset(NS) == 3
    assert [e.payload for e in await again.since(NS, 0)] == [b"0", b"1", b"2"]
    assert await again.append(NS, "e", b"3", now=10.0) == 4
    # Even with every entry pruned, an offset is never given twice.
    assert await again.prune(now=100.0) == 4
    assert await again.since(NS, 0) == []
    await again.close()

    third = await backend.open()
    assert await third.append(NS, "e", b"4", now=200.0) == 5
    assert await third.last_offset(NS) == 5


async def test_sessions_are_taken_once(store: HistoryStore) -> None:
    record = SessionRecord(
        pid="p1",
        sid="s1",
        namespace=NS,
        rooms=("s1", "lobby", "ünï"),
        data=b'{"user":1}\x00',
        disconnected_at=1000.0,
    )
    await store.save_session(record)
    await store.save_session(SessionRecord("p2", "s2", NS, (), b"", 1000.0))

    assert await store.take_session("p1", max_age=60.0, now=1030.0) == record
    assert await store.take_session("p1", max_age=60.0, now=1030.0) is None
    assert await store.take_session("unknown", max_age=60.0, now=1030.0) is None
    taken = await store.take_session("p2", max_age=60.0, now=1060.0)
    assert taken is not None and taken.rooms == () and taken.data == b""


async def test_session_saved_again_replaces_the_first(store: HistoryStore) -> None:
    await store.save_session(SessionRecord("p", "s", NS, ("a",), b"1", 10.0))
    await store.save_session(SessionRecord("p", "s", NS, ("b",), b"2", 20.0))
    taken = await store.take_session("p", max_age=5.0, now=21.0)
    assert taken == SessionRecord("p", "s", NS, ("b",), b"2", 20.0)


async def test_expired_session_is_gone(store: HistoryStore) -> None:
    await store.save_session(SessionRecord("p", "s", NS, (), b"", 1000.0))
    assert await store.take_session("p", max_age=60.0, now=1060.5) is None
    # expiry consumed it: a more lenient second try finds nothing either
    assert await store.take_session("p", max_age=1e9, now=1060.5) is None


async def test_retention_by_count_is_kept_on_append(backend: Backend) -> None:
    store = await backend.open(RetentionPolicy(max_entries_per_namespace=10))
    for i in range(25):
        await store.append(NS, "e", str(i).encode(), rooms=["a"], now=float(i))
    entries = await store.since(NS, 0)
    assert [e.offset for e in entries] == list(range(16, 26))
    assert [e.offset for e in await store.last(NS, "a", 100)] == list(range(16, 26))
    assert await store.covers(NS, 15)
    assert await store.covers(NS, 25)
    assert not await store.covers(NS, 14)  # entry 15 is gone: that replay would be short
    assert not await store.covers(NS, 0)
    assert not await store.covers(NS, 26)  # never given: not ours
    assert await store.prune(now=100.0) == 0
    # one batch larger than the limit still leaves the limit
    await store.append_many([NewEntry(NS, "e", b"x", created_at=1.0)] * 15)
    assert [e.offset for e in await store.since(NS, 0)] == list(range(31, 41))


async def test_covers_without_pruning(store: HistoryStore) -> None:
    assert await store.covers(NS, 0)
    assert not await store.covers(NS, 1)
    await store.append(NS, "e", b"x", now=1.0)
    assert await store.covers(NS, 0)
    assert await store.covers(NS, 1)


async def test_prune_by_age_and_sessions(backend: Backend) -> None:
    policy = RetentionPolicy(None, max_age_seconds=100.0, session_max_age_seconds=50.0)
    store = await backend.open(policy)
    for t in (1000.0, 1000.0, 1000.0, 1050.0, 1050.0, 1200.0, 1200.0):
        await store.append(NS, "e", str(t).encode(), rooms=["a"], now=t)
    await store.append("/other", "e", b"old", now=900.0)
    await store.save_session(SessionRecord("old", "s1", NS, (), b"", 1000.0))
    await store.save_session(SessionRecord("new", "s2", NS, (), b"", 1150.0))

    assert await store.prune(now=1160.0) == 6
    assert [e.offset for e in await store.since(NS, 0)] == [6, 7]
    assert [e.offset for e in await store.last(NS, "a", 10)] == [6, 7]
    assert await store.since("/other", 0) == []
    assert await store.covers(NS, 5)
    assert not await store.covers(NS, 4)
    assert not await store.covers("/other", 0)
    assert await store.take_session("old", max_age=1e9, now=1160.0) is None
    assert await store.take_session("new", max_age=1e9, now=1160.0) is not None
    assert await store.prune(now=1160.0) == 0
    assert await store.append(NS, "e", b"next", now=1300.0) == 8


async def test_misuse_raises_at_once(backend: Backend) -> None:
    closed = backend.make()
    with pytest.raises(RuntimeError):
        await closed.append(NS, "e", b"x", now=1.0)
    store = await backend.open()
    with pytest.raises(TypeError):
        await store.append(NS, "e", "not bytes", now=1.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        await store.append(NS, "e", b"x", rooms="room", now=1.0)
    with pytest.raises(ValueError):
        await store.since(NS, -1)
    with pytest.raises(ValueError):
        await store.since(NS, 0, limit=0)
    with pytest.raises(ValueError):
        await store.last(NS, None, -1)
    with pytest.raises(TypeError):
        await store.append_many(["not an entry"])  # type: ignore[list-item]
    assert await store.last_offset(NS) == 0  # nothing slipped in
    await store.close()
    with pytest.raises(RuntimeError):
        await store.since(NS, 0)


def test_retention_policy_is_validated() -> None:
    with pytest.raises(ValueError):
        RetentionPolicy(max_entries_per_namespace=0)
    with pytest.raises(ValueError):
        RetentionPolicy(max_age_seconds=-1.0)
    with pytest.raises(ValueError):
        RetentionPolicy(session_max_age_seconds=0.0)
    assert RetentionPolicy(None, None, None).max_entries_per_namespace is None


async def test_sessions_live_at_a_crash_are_dated_by_the_next_start(store: HistoryStore) -> None:
    await store.save_session(SessionRecord("live", "s1", NS, ("s1",), b"", LIVE))
    await store.save_session(SessionRecord("gone", "s2", NS, ("s2",), b"", 50.0))
    # while live, a session is recoverable whatever its age
    assert await store.sessions_lost(now=1000.0) == 1
    assert await store.take_session("gone", max_age=100.0, now=1000.0) is None  # its own date kept
    taken = await store.take_session("live", max_age=100.0, now=1050.0)
    assert taken is not None and taken.disconnected_at == 1000.0
    assert await store.sessions_lost(now=2000.0) == 0


async def test_a_node_start_dates_only_its_own_live_sessions(store: HistoryStore) -> None:
    await store.save_session(SessionRecord("a", "s1", NS, ("s1",), b"", LIVE, node="n1"))
    await store.save_session(SessionRecord("b", "s2", NS, ("s2",), b"", LIVE, node="n2"))
    assert await store.sessions_lost(now=1000.0, node="n1") == 1
    a = await store.take_session("a", max_age=10.0, now=1005.0)
    assert a is not None and a.disconnected_at == 1000.0 and a.node == "n1"
    # n2 was not restarted and never missed a heartbeat: its session is still live
    b = await store.take_session("b", max_age=10.0, now=5000.0)
    assert b is not None and b.disconnected_at == LIVE and b.node == "n2"


async def test_live_sessions_of_a_node_whose_heartbeat_lapsed(store: HistoryStore) -> None:
    await store.heartbeat("n1", now=1000.0, timeout=3.0)
    for pid in ("p1", "p2", "p3", "p4"):
        await store.save_session(SessionRecord(pid, "s", NS, (), b"", LIVE, node="n1"))
    fresh = await store.take_session("p1", max_age=60.0, now=1002.0)
    assert fresh is not None and fresh.disconnected_at == LIVE
    # past the timeout: disconnected when the node last beat
    lapsed = await store.take_session("p2", max_age=60.0, now=1004.0)
    assert lapsed is not None and lapsed.disconnected_at == 1000.0
    assert await store.take_session("p3", max_age=60.0, now=1060.5) is None  # expired
    await store.heartbeat("n1", now=2000.0, timeout=3.0)  # it beats again: live again
    again = await store.take_session("p4", max_age=60.0, now=2001.0)
    assert again is not None and again.disconnected_at == LIVE


async def test_prune_drops_live_sessions_of_long_dead_nodes(backend: Backend) -> None:
    store = await backend.open(RetentionPolicy(None, None, session_max_age_seconds=50.0))
    await store.heartbeat("dead", now=1000.0, timeout=3.0)
    await store.heartbeat("alive", now=1099.0, timeout=3.0)
    await store.save_session(SessionRecord("d", "s1", NS, (), b"", LIVE, node="dead"))
    await store.save_session(SessionRecord("a", "s2", NS, (), b"", LIVE, node="alive"))
    await store.save_session(SessionRecord("x", "s3", NS, (), b"", LIVE, node="unknown"))
    await store.prune(now=1100.0)
    assert await store.take_session("d", max_age=1e9, now=1100.0) is None
    assert await store.take_session("a", max_age=1e9, now=1100.0) is not None
    assert await store.take_session("x", max_age=1e9, now=1100.0) is not None


async def test_a_session_is_updated_only_by_the_node_holding_it(store: HistoryStore) -> None:
    await store.save_session(SessionRecord("p", "s", NS, ("a",), b"1", LIVE, node="n1"))
    assert await store.update_session(SessionRecord("p", "s", NS, ("b",), b"2", LIVE, node="n1"))
    # the client came back through n2, which took the session and holds it now
    taken = await store.take_session("p", max_age=60.0, now=10.0)
    assert taken is not None and taken.rooms == ("b",) and taken.data == b"2"
    await store.save_session(SessionRecord("p", "s", NS, ("b", "c"), b"3", LIVE, node="n2"))
    # n1 sees its old socket drop late: it must not write over n2's session
    assert not await store.update_session(SessionRecord("p", "s", NS, ("a",), b"1", 9.0, "n1"))
    assert not await store.update_session(SessionRecord("q", "s", NS, (), b"", 9.0, "n1"))
    mine = await store.take_session("p", max_age=60.0, now=10.0)
    assert mine == SessionRecord("p", "s", NS, ("b", "c"), b"3", LIVE, "n2")
    assert await store.take_session("q", max_age=60.0, now=10.0) is None  # never created
