"""Appends per second, sequential and 100 concurrent, for SQLite and PostgreSQL (not a test).

Run: python tests/history/bench_appends.py [--dsn DSN] [--seconds 3]
Every append is durable when it returns (SQLite: WAL + synchronous=FULL; PostgreSQL:
synchronous_commit=on), so the numbers include an fsync per commit; the concurrent
figure shows what group commit buys.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import tempfile
import time
from pathlib import Path

import asyncpg

from tidings.history import HistoryStore, PostgresHistory, RetentionPolicy, SQLiteHistory
from tidings.history.batching import GroupCommit

PAYLOAD = b'2["message",{"user":"alice","text":"hello, room"}]'
RETENTION = RetentionPolicy(max_entries_per_namespace=100_000, max_age_seconds=None)


async def sequential(store: HistoryStore, seconds: float) -> float:
    count = 0
    start = time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        await store.append("/bench", "message", PAYLOAD, rooms=["room"], now=time.time())
        count += 1
    return count / (time.perf_counter() - start)


async def concurrent(store: HistoryStore, seconds: float, tasks: int = 100) -> float:
    count = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal count
        while time.perf_counter() < deadline:
            await store.append("/bench", "message", PAYLOAD, rooms=["room"], now=time.time())
            count += 1

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(tasks)))
    return count / (time.perf_counter() - start)


def _batching(store: HistoryStore) -> str:
    commit = getattr(store, "_commit", None)
    if not isinstance(commit, GroupCommit) or not commit.commits:
        return ""
    return f"  ({commit.commits} commits, {commit.entries / commit.commits:.1f} appends/commit)"


async def run(name: str, store: HistoryStore, seconds: float) -> None:
    await store.open()
    try:
        seq = await sequential(store, seconds)
        print(f"{name:10s} sequential      {seq:10.0f} appends/s{_batching(store)}")
        commit = getattr(store, "_commit", None)
        if isinstance(commit, GroupCommit):
            commit.commits = commit.entries = 0
        conc = await concurrent(store, seconds)
        print(f"{name:10s} 100 concurrent  {conc:10.0f} appends/s{_batching(store)}")
    finally:
        await store.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dsn", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        await run(
            "sqlite", SQLiteHistory(Path(tmp) / "bench.sqlite3", retention=RETENTION), args.seconds
        )
    schema = f"tidings_bench_{secrets.token_hex(4)}"
    try:
        await run(
            "postgres", PostgresHistory(args.dsn, schema=schema, retention=RETENTION), args.seconds
        )
    finally:
        conn = await asyncpg.connect(args.dsn)
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await conn.close()


if __name__ == "__main__":
    asyncio.run(main())
