"""A sqlite3 connection confined to a thread of its own (sqlite3 objects are not thread-safe).

A whole transaction is one function run there: one hop between threads per commit.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


class SQLiteThread:
    """A sqlite3 connection and the one thread allowed to use it."""

    __slots__ = ("_db", "_executor")

    def __init__(self, executor: ThreadPoolExecutor, db: sqlite3.Connection) -> None:
        self._executor = executor
        self._db = db

    @classmethod
    async def connect(cls, path: str, name: str) -> SQLiteThread:
        executor = ThreadPoolExecutor(1, thread_name_prefix=f"tidings-sqlite-{name}")
        loop = asyncio.get_running_loop()
        try:
            # isolation_level=None: no implicit transactions, ours are explicit.
            db = await loop.run_in_executor(
                executor, lambda: sqlite3.connect(path, isolation_level=None, timeout=10.0)
            )
        except BaseException:
            executor.shutdown(wait=False)
            raise
        return cls(executor, db)

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` on the connection's thread; it completes even if the caller is cancelled."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, self._db)

    async def close(self) -> None:
        try:
            await self.run(lambda db: db.close())
        finally:
            self._executor.shutdown(wait=False)
