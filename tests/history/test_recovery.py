"""Connection state recovery over every backend: complete and once, or refused."""

from __future__ import annotations

import pytest

from tidings.history import (
    HistoryStore,
    RetentionPolicy,
    SessionRecord,
    parse_offset,
    recover,
)

from .conftest import Backend

NS = "/chat"


@pytest.mark.parametrize(
    ("text", "value"),
    [("0", 0), ("1", 1), ("42", 42), (str(2**63 - 1), 2**63 - 1)],
)
def test_parse_offset_accepts_what_we_send(text: str, value: int) -> None:
    assert parse_offset(text) == value


@pytest.mark.parametrize(
    "bad", ["", "-1", "+1", "01", "1.5", " 1", "1e3", "٣", str(2**63), "9" * 30, 5, None, ["1"]]
)
def test_parse_offset_refuses_anything_else(bad: object) -> None:
    assert parse_offset(bad) is None


async def _chat(store: HistoryStore) -> None:
    await store.append(NS, "e", b"1 lobby", rooms=["lobby"], now=100.0)
    await store.append(NS, "e", b"2 all", now=101.0)
    await store.append(NS, "e", b"3 other", rooms=["other"], now=102.0)
    await store.append(NS, "e", b"4 lobby except s1", rooms=["lobby"], except_rooms=["s1"], now=103)
    await store.append(NS, "e", b"5 to s1", rooms=["s1"], now=104.0)
    await store.append(NS, "e", b"6 lobby", rooms=["lobby"], now=105.0)


async def test_recover_replays_what_the_rooms_missed_once(store: HistoryStore) -> None:
    record = SessionRecord("pid-1", "s1", NS, ("s1", "lobby"), b"{}", 101.5)
    await store.save_session(record)
    await _chat(store)

    got = await recover(store, NS, "pid-1", "2", max_age=60.0, now=110.0)
    assert got is not None
    assert got.session == record
    assert [e.payload for e in got.missed] == [b"5 to s1", b"6 lobby"]
    assert await recover(store, NS, "pid-1", "2", max_age=60.0, now=110.0) is None


async def test_recover_pages_through_long_absences(store: HistoryStore) -> None:
    await store.save_session(SessionRecord("p", "s", NS, ("r",), b"", 0.0))
    for i in range(25):
        await store.append(NS, "e", str(i).encode(), rooms=["r" if i % 2 else "x"], now=1.0)
    got = await recover(store, NS, "p", "0", max_age=60.0, now=1.0, page=4)
    assert got is not None
    assert [e.payload for e in got.missed] == [str(i).encode() for i in range(1, 25, 2)]
    await store.save_session(SessionRecord("q", "s", NS, ("r",), b"", 0.0))
    assert await recover(store, NS, "q", "0", max_age=60.0, now=1.0, page=4, max_missed=5) is None


@pytest.mark.parametrize(
    ("namespace", "pid", "offset", "now"),
    [
        ("/elsewhere", "pid-1", "2", 110.0),  # a pid from another namespace
        (NS, "pid-1", "x2", 110.0),  # not an offset of ours
        (NS, "pid-1", "7", 110.0),  # an offset never given
        (NS, "pid-1", "2", 200.0),  # disconnected too long ago
        (NS, "nobody", "2", 110.0),
        (NS, None, "2", 110.0),
    ],
)
async def test_recover_refuses(
    store: HistoryStore, namespace: str, pid: object, offset: object, now: float
) -> None:
    await store.save_session(SessionRecord("pid-1", "s1", NS, ("lobby",), b"", 101.5))
    await _chat(store)
    assert await recover(store, namespace, pid, offset, max_age=60.0, now=now) is None


async def test_recover_refuses_a_replay_cut_short_by_retention(backend: Backend) -> None:
    store = await backend.open(RetentionPolicy(max_entries_per_namespace=3))
    await store.save_session(SessionRecord("p", "s", NS, ("lobby",), b"", 100.0))
    await store.save_session(SessionRecord("q", "s", NS, ("lobby",), b"", 100.0))
    await _chat(store)  # keeps 4..6
    assert await recover(store, NS, "p", "2", max_age=60.0, now=110.0) is None
    got = await recover(store, NS, "q", "3", max_age=60.0, now=110.0)
    assert got is not None
    assert [e.offset for e in got.missed] == [4, 6]
