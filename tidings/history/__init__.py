"""Durable room history and connection state recovery.

``HistoryStore`` is the interface; ``MemoryHistory`` (in-process),
``SQLiteHistory`` (embedded, durable) and ``PostgresHistory`` (shared, durable)
implement it, and ``RedisStreamsHistory`` (shared, on Redis streams). ``SQLiteHistory``
needs only the standard library; ``PostgresHistory`` needs asyncpg and
``RedisStreamsHistory`` redis-py, each imported only when it is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tidings.history.base import (
    DEFAULT_NODE,
    DEFAULT_RETENTION,
    LIVE,
    Entry,
    HistoryStore,
    NewEntry,
    RetentionPolicy,
    SessionRecord,
)
from tidings.history.memory import MemoryHistory
from tidings.history.recovery import Recovered, parse_offset, recover

if TYPE_CHECKING:
    from tidings.history.postgres import PostgresHistory
    from tidings.history.redis_streams import RedisStreamsHistory
    from tidings.history.sqlite import SQLiteHistory

__all__ = [
    "DEFAULT_NODE",
    "DEFAULT_RETENTION",
    "LIVE",
    "Entry",
    "HistoryStore",
    "MemoryHistory",
    "NewEntry",
    "PostgresHistory",
    "Recovered",
    "RedisStreamsHistory",
    "RetentionPolicy",
    "SQLiteHistory",
    "SessionRecord",
    "parse_offset",
    "recover",
]


def __getattr__(name: str) -> Any:
    if name == "SQLiteHistory":
        from tidings.history.sqlite import SQLiteHistory

        return SQLiteHistory
    if name == "PostgresHistory":
        from tidings.history.postgres import PostgresHistory

        return PostgresHistory
    if name == "RedisStreamsHistory":
        from tidings.history.redis_streams import RedisStreamsHistory

        return RedisStreamsHistory
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
