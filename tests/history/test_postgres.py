"""What only the PostgreSQL backend promises: a schema version, safe identifiers."""

from __future__ import annotations

import asyncpg
import pytest

from tidings.history import DEFAULT_NODE, PostgresHistory
from tidings.history.postgres import SCHEMA_VERSION

from .conftest import PG_DSN, pg_schema


async def test_schema_is_created_once_and_versioned() -> None:
    async with pg_schema() as schema:
        first = PostgresHistory(PG_DSN, schema=schema)
        second = PostgresHistory(PG_DSN, schema=schema)
        await first.open()
        try:
            await second.open()  # idempotent, with the tables already there
            try:
                await first.append("/", "e", b"x", now=1.0)
                assert await second.last_offset("/") == 1
            finally:
                await second.close()
        finally:
            await first.close()


async def test_a_newer_schema_is_refused() -> None:
    async with pg_schema() as schema:
        store = PostgresHistory(PG_DSN, schema=schema)
        await store.open()
        await store.close()
        conn = await asyncpg.connect(PG_DSN)
        try:
            await conn.execute(
                f'UPDATE "{schema}".tidings_history_meta SET value = $1'
                " WHERE key = 'schema_version'",
                str(SCHEMA_VERSION + 1),
            )
        finally:
            await conn.close()
        again = PostgresHistory(PG_DSN, schema=schema)
        with pytest.raises(RuntimeError, match="version"):
            await again.open()
        with pytest.raises(RuntimeError, match="not open"):
            await again.since("/", 0)


@pytest.mark.parametrize("bad", ["", "a-b", 'x"; DROP TABLE y; --', "1abc", "a" * 64])
def test_schema_must_be_an_identifier(bad: str) -> None:
    with pytest.raises(ValueError):
        PostgresHistory(PG_DSN, schema=bad)


async def test_a_version_1_schema_is_brought_up_to_date() -> None:
    async with pg_schema() as schema:
        conn = await asyncpg.connect(PG_DSN)
        try:
            await conn.execute(
                f'CREATE SCHEMA "{schema}";'
                f'CREATE TABLE "{schema}".tidings_history_sessions (pid text PRIMARY KEY,'
                " sid text NOT NULL, namespace text NOT NULL, rooms text[] NOT NULL,"
                " data bytea NOT NULL, disconnected_at double precision NOT NULL);"
                f"INSERT INTO \"{schema}\".tidings_history_sessions VALUES"
                " ('p', 's', '/', '{r}', '', 'Infinity')"
            )
        finally:
            await conn.close()
        store = PostgresHistory(PG_DSN, schema=schema)
        await store.open()
        try:
            assert await store.sessions_lost(now=5.0) == 1
            record = await store.take_session("p", max_age=10.0, now=6.0)
            assert record is not None and record.node == DEFAULT_NODE and record.rooms == ("r",)
        finally:
            await store.close()
