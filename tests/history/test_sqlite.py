"""What only the SQLite backend promises: WAL on disk, a schema version, a real file."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tidings.history import DEFAULT_NODE, SQLiteHistory
from tidings.history.sqlite import SCHEMA_VERSION, pack_blobs, unpack_blobs


async def test_file_is_in_wal_mode_with_a_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    store = SQLiteHistory(path)
    await store.open()
    try:
        await store.append("/", "e", b"x", now=1.0)
    finally:
        await store.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert db.execute("SELECT namespace, last_seq FROM namespaces").fetchall() == [("/", 1)]
    db.close()


async def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    db.close()
    store = SQLiteHistory(path)
    with pytest.raises(RuntimeError, match="schema version"):
        await store.open()
    with pytest.raises(RuntimeError, match="not open"):
        await store.append("/", "e", b"x", now=1.0)


async def test_open_twice_is_misuse(tmp_path: Path) -> None:
    store = SQLiteHistory(tmp_path / "h.sqlite3")
    await store.open()
    try:
        with pytest.raises(RuntimeError):
            await store.open()
    finally:
        await store.close()
    await store.close()  # closing twice is harmless


def test_needs_a_file() -> None:
    with pytest.raises(ValueError):
        SQLiteHistory(":memory:")


@pytest.mark.parametrize("blobs", [(), (b"",), (b"a", b"", b"\x00" * 70000)])
def test_attachments_pack_round_trip(blobs: tuple[bytes, ...]) -> None:
    assert unpack_blobs(pack_blobs(blobs)) == blobs


async def test_a_version_1_file_is_brought_up_to_date(tmp_path: Path) -> None:
    """Sessions of a file written before sessions had a node belong to the default node."""
    path = tmp_path / "h.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE sessions (pid TEXT PRIMARY KEY, sid TEXT NOT NULL, namespace TEXT NOT NULL,"
        " rooms TEXT NOT NULL, data BLOB NOT NULL, disconnected_at REAL NOT NULL) WITHOUT ROWID;"
        "INSERT INTO sessions VALUES ('p', 's', '/', '[\"r\"]', x'', 1e999);"
        "PRAGMA user_version=1;"
    )
    db.close()
    store = SQLiteHistory(path)
    await store.open()
    try:
        assert await store.sessions_lost(now=5.0) == 1  # the default node's, as before
        record = await store.take_session("p", max_age=10.0, now=6.0)
        assert record is not None and record.node == DEFAULT_NODE and record.rooms == ("r",)
    finally:
        await store.close()
    with sqlite3.connect(path) as check:
        assert check.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 2
    check.close()
