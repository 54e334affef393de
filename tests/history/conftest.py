"""One suite, four backends: memory, a real SQLite file, a real PostgreSQL, a real Redis.

PostgreSQL is part of the test set-up (127.0.0.1:5432, user postgres, database
``test``; TIDINGS_TEST_POSTGRES_DSN overrides): when it is unreachable the
PostgreSQL tests fail with a hint, they are never skipped. Each test gets a
schema of its own, dropped afterwards. Redis is the shared one at 127.0.0.1:6379
(TIDINGS_TEST_REDIS_URL overrides); each test works under a key prefix of its own,
whose keys are deleted afterwards.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import asyncpg
import pytest
import redis.asyncio as aioredis

from tidings.history import (
    DEFAULT_RETENTION,
    HistoryStore,
    MemoryHistory,
    PostgresHistory,
    RedisStreamsHistory,
    RetentionPolicy,
    SQLiteHistory,
)

PG_DSN = os.environ.get("TIDINGS_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("TIDINGS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
PG_HINT = (
    "PostgreSQL is needed at {dsn} (trust auth): on Debian start it with"
    " `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`"
    " or set TIDINGS_TEST_POSTGRES_DSN ({error!r})"
)


class Backend:
    """Makes stores over one storage: each ``make`` is a new store on the same data,
    as a restarted process would have (memory: the same object, its only storage)."""

    def __init__(self, name: str, target: str) -> None:
        self.name = name
        self.target = target  # file path or schema name; what a child process needs
        self.durable = name != "memory"
        self.stores: list[HistoryStore] = []
        self._memory: MemoryHistory | None = None

    def make(self, retention: RetentionPolicy = DEFAULT_RETENTION) -> HistoryStore:
        store: HistoryStore
        if self.name == "memory":
            if self._memory is None:
                self._memory = MemoryHistory(retention=retention)
            store = self._memory
        elif self.name == "sqlite":
            store = SQLiteHistory(self.target, retention=retention)
        elif self.name == "redis":
            store = RedisStreamsHistory(REDIS_URL, key_prefix=self.target, retention=retention)
        else:
            store = PostgresHistory(PG_DSN, schema=self.target, retention=retention)
        self.stores.append(store)
        return store

    async def open(self, retention: RetentionPolicy = DEFAULT_RETENTION) -> HistoryStore:
        store = self.make(retention)
        await store.open()
        return store


async def _pg_connect() -> asyncpg.Connection:
    try:
        return await asyncpg.connect(PG_DSN, timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.fail(PG_HINT.format(dsn=PG_DSN, error=exc))


@asynccontextmanager
async def pg_schema() -> AsyncIterator[str]:
    """A fresh schema name, dropped with everything in it afterwards."""
    name = f"tidings_test_{secrets.token_hex(6)}"
    conn = await _pg_connect()
    try:
        yield name
    finally:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        await conn.close()


@asynccontextmanager
async def redis_prefix() -> AsyncIterator[str]:
    """A fresh key prefix; every key under it is deleted afterwards."""
    name = f"tidings-test-{secrets.token_hex(6)}"
    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        await client.ping()
    except OSError as exc:
        pytest.fail(f"Redis is needed at {REDIS_URL} ({exc!r})")
    try:
        yield name
    finally:
        keys = [key async for key in client.scan_iter(match=f"{name}:*", count=1000)]
        if keys:
            await client.delete(*keys)
        await client.aclose()


@asynccontextmanager
async def backend_named(name: str, tmp_path: Path) -> AsyncIterator[Backend]:
    """A backend over fresh storage; its stores are closed and the storage dropped after."""
    async with AsyncExitStack() as stack:
        if name == "postgres":
            target = await stack.enter_async_context(pg_schema())
        elif name == "redis":
            target = await stack.enter_async_context(redis_prefix())
        else:
            target = str(tmp_path / "history.sqlite3")
        backend = Backend(name, target)
        try:
            yield backend
        finally:
            for store in backend.stores:
                await store.close()


@pytest.fixture(params=["memory", "sqlite", "postgres", "redis"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    async with backend_named(request.param, tmp_path) as b:
        yield b


@pytest.fixture(params=["sqlite", "postgres", "redis"])
async def durable(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    async with backend_named(request.param, tmp_path) as b:
        yield b


@pytest.fixture
async def store(backend: Backend) -> HistoryStore:
    """An open store with the default retention."""
    return await backend.open()
