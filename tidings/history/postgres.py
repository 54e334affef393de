"""The shared durable store: PostgreSQL through an asyncpg pool.

Offsets come from a counter row per namespace, bumped by an upsert inside the
transaction that inserts the entries, not from a ``SEQUENCE``. ``nextval`` is
not transactional: two writers take 6 and 7, 7 commits first, a reader sees 7
and hands it to a client as its offset, and 6, committed a moment later, is
then missed by that client's replay. The counter row is locked from the
upsert until commit, so writers of one namespace commit in offset order and
whatever a reader sees is a gap-free prefix; a rolled-back append rolls its
offsets back too, and the row outlives the entries, so offsets are never
reused after pruning or a restart. The lock serializes writers of one
namespace; the group commit puts every append queued in this process into one
such transaction, so that costs one round of commit per batch, not per append.

Durability: ``append`` returns after COMMIT, and the pool's sessions set
``synchronous_commit=on`` whatever the database default is.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any

try:
    import asyncpg
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise ImportError("PostgresHistory needs asyncpg: pip install 'tidings[postgres]'") from exc
from asyncpg import Record
from asyncpg.pool import PoolConnectionProxy

from tidings.history.base import (
    DEFAULT_NODE,
    DEFAULT_RETENTION,
    LIVE,
    Entry,
    NewEntry,
    RetentionPolicy,
    SessionRecord,
    check_count,
    check_offset,
    disconnected_at,
    socket_rooms,
)
from tidings.history.batching import BatchedAppends, GroupCommit

log = logging.getLogger("tidings.history")

SCHEMA_VERSION = 2
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
# Serializes schema creation between processes opening the store together.
_DDL_LOCK_KEY = 0x7469_6469_6E67_73  # "tidings"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS {s}.tidings_history_meta (
    key text PRIMARY KEY,
    value text NOT NULL
);
CREATE TABLE IF NOT EXISTS {s}.tidings_history_namespaces (
    namespace text PRIMARY KEY,
    last_seq bigint NOT NULL,
    pruned_seq bigint NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS {s}.tidings_history_entries (
    namespace text NOT NULL,
    seq bigint NOT NULL,
    rooms text[] NOT NULL,
    except_rooms text[] NOT NULL,
    event text NOT NULL,
    payload bytea NOT NULL,
    attachments bytea[] NOT NULL,
    created_at double precision NOT NULL,
    PRIMARY KEY (namespace, seq)
);
CREATE INDEX IF NOT EXISTS tidings_history_entries_created_at
    ON {s}.tidings_history_entries (created_at);
CREATE TABLE IF NOT EXISTS {s}.tidings_history_entry_rooms (
    namespace text NOT NULL,
    room text NOT NULL,
    seq bigint NOT NULL,
    PRIMARY KEY (namespace, room, seq)
);
CREATE INDEX IF NOT EXISTS tidings_history_entry_rooms_seq
    ON {s}.tidings_history_entry_rooms (namespace, seq);
CREATE TABLE IF NOT EXISTS {s}.tidings_history_sessions (
    pid text PRIMARY KEY,
    sid text NOT NULL,
    namespace text NOT NULL,
    rooms text[] NOT NULL,
    data bytea NOT NULL,
    disconnected_at double precision NOT NULL
);
ALTER TABLE {s}.tidings_history_sessions ADD COLUMN IF NOT EXISTS node text NOT NULL
    DEFAULT 'tidings';
CREATE INDEX IF NOT EXISTS tidings_history_sessions_disconnected_at
    ON {s}.tidings_history_sessions (disconnected_at);
CREATE TABLE IF NOT EXISTS {s}.tidings_history_nodes (
    node text PRIMARY KEY,
    last_seen double precision NOT NULL,
    expires_at double precision NOT NULL
)
"""

_COLUMNS = "seq, namespace, rooms, except_rooms, event, payload, attachments, created_at"


class PostgresHistory(BatchedAppends):
    __slots__ = ("_commit", "_dsn", "_max_batch", "_pool", "_pool_size", "_retention", "_sql")

    def __init__(
        self,
        dsn: str,
        *,
        schema: str = "public",
        retention: RetentionPolicy = DEFAULT_RETENTION,
        pool_size: int = 4,
        max_batch: int = 1000,
    ) -> None:
        if not _IDENTIFIER.fullmatch(schema):
            raise ValueError("schema must be a plain SQL identifier")
        check_count(pool_size, "pool_size", 2)  # one for the group commit, one for reads
        self._dsn = dsn
        self._retention = retention
        self._pool_size = pool_size
        self._max_batch = max_batch
        self._sql = _Statements(f'"{schema}"')
        self._pool: asyncpg.Pool | None = None
        self._commit: GroupCommit | None = None

    async def open(self) -> None:
        if self._pool is not None:
            raise RuntimeError("the history store is already open")
        pool = await asyncpg.create_pool(
            self._dsn,
            min_size=1,
            max_size=self._pool_size,
            server_settings={"synchronous_commit": "on", "application_name": "tidings-history"},
        )
        try:
            async with pool.acquire() as conn, conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock($1)", _DDL_LOCK_KEY)
                await _create_schema(conn, self._sql.schema)
        except BaseException:
            await pool.close()
            raise
        self._pool = pool
        self._commit = GroupCommit(self._write_batch, self._max_batch)
        log.debug("history open: postgresql schema %s", self._sql.schema)

    async def close(self) -> None:
        commit, pool = self._commit, self._pool
        if commit is None or pool is None:
            return
        self._commit = None
        try:
            await commit.close()
        finally:
            self._pool = None
            await pool.close()

    def _open_pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("the history store is not open")
        return self._pool

    # -- appends (append, append_many: BatchedAppends) --------------------------------

    async def _write_batch(self, entries: list[NewEntry]) -> list[int]:
        sql = self._sql
        limit = self._retention.max_entries_per_namespace
        counts: dict[str, int] = {}
        for e in entries:
            counts[e.namespace] = counts.get(e.namespace, 0) + 1
        async with self._open_pool().acquire() as conn, conn.transaction():
            next_seq: dict[str, int] = {}
            # Sorted, so that two processes lock the counter rows in one order.
            bumped: dict[str, tuple[int, int]] = {}
            for name in sorted(counts):
                row = await conn.fetchrow(sql.bump, name, counts[name])
                if row is None:  # an upsert with RETURNING always returns its row
                    raise RuntimeError("counter upsert returned nothing")
                bumped[name] = (row[0], row[1])
                next_seq[name] = row[0] - counts[name] + 1
            offsets: list[int] = []
            entry_rows: list[tuple[Any, ...]] = []
            room_rows: list[tuple[str, str, int]] = []
            for e in entries:
                seq = next_seq[e.namespace]
                next_seq[e.namespace] = seq + 1
                offsets.append(seq)
                entry_rows.append(
                    (
                        e.namespace,
                        seq,
                        list(e.rooms),
                        list(e.except_rooms),
                        e.event,
                        e.payload,
                        list(e.attachments),
                        float(e.created_at),
                    )
                )
                room_rows.extend((e.namespace, room, seq) for room in e.rooms)
            await conn.executemany(sql.insert_entry, entry_rows)
            if room_rows:
                await conn.executemany(sql.insert_room, room_rows)
            if limit is not None:
                for name, (last_seq, pruned_seq) in bumped.items():
                    cut = last_seq - limit
                    if cut > pruned_seq:
                        await conn.execute(sql.delete_rooms_through, name, cut)
                        await conn.execute(sql.delete_entries_through, name, cut)
                        await conn.execute(sql.set_pruned, name, cut)
        return offsets

    # -- reads ----------------------------------------------------------------------

    async def since(
        self,
        namespace: str,
        offset: int,
        *,
        rooms: Iterable[str] | None = None,
        limit: int = 1000,
    ) -> list[Entry]:
        pool = self._open_pool()
        check_offset(offset)
        check_count(limit, "limit", 1)
        mine = socket_rooms(rooms)
        if mine is None:
            rows = await pool.fetch(self._sql.since, namespace, offset, limit)
        else:
            rows = await pool.fetch(self._sql.since_rooms, namespace, offset, limit, sorted(mine))
        return [_entry(row) for row in rows]

    async def last(self, namespace: str, room: str | None, n: int) -> list[Entry]:
        pool = self._open_pool()
        check_count(n, "n", 0)
        if room is None:
            rows = await pool.fetch(self._sql.last, namespace, n)
        else:
            rows = await pool.fetch(self._sql.last_room, namespace, room, n)
        return [_entry(row) for row in reversed(rows)]

    async def last_offset(self, namespace: str) -> int:
        last_seq, _ = await self._counter(namespace)
        return last_seq

    async def covers(self, namespace: str, offset: int) -> bool:
        check_offset(offset)
        last_seq, pruned_seq = await self._counter(namespace)
        return pruned_seq <= offset <= last_seq

    async def _counter(self, namespace: str) -> tuple[int, int]:
        row = await self._open_pool().fetchrow(self._sql.counter, namespace)
        return (0, 0) if row is None else (row[0], row[1])

    # -- sessions -------------------------------------------------------------------

    async def save_session(self, record: SessionRecord) -> None:
        pool = self._open_pool()
        if not isinstance(record, SessionRecord):
            raise TypeError("save_session takes a SessionRecord")
        await pool.execute(self._sql.save_session, *_session_args(record))
        log.debug("history session saved: sid=%s namespace=%s", record.sid, record.namespace)

    async def update_session(self, record: SessionRecord) -> bool:
        status = await self._open_pool().execute(self._sql.update_session, *_session_args(record))
        return _row_count(status) > 0

    async def take_session(self, pid: str, max_age: float, now: float) -> SessionRecord | None:
        row = await self._open_pool().fetchrow(self._sql.take_session, pid)
        if row is None:
            return None
        pid_, sid, namespace, rooms, data, at, node, last_seen, expires_at = row
        at = disconnected_at(at, last_seen, expires_at, now)
        if now - at > max_age:
            log.debug("history session expired: sid=%s namespace=%s", sid, namespace)
            return None
        return SessionRecord(pid_, sid, namespace, tuple(rooms), data, at, node)

    async def sessions_lost(self, now: float, node: str = DEFAULT_NODE) -> int:
        status = await self._open_pool().execute(self._sql.sessions_lost, now, LIVE, node)
        return _row_count(status)

    async def heartbeat(self, node: str, now: float, timeout: float) -> None:
        await self._open_pool().execute(self._sql.heartbeat, node, now, now + timeout)

    # -- retention ------------------------------------------------------------------

    async def prune(self, now: float) -> int:
        sql = self._sql
        policy = self._retention
        removed = 0
        async with self._open_pool().acquire() as conn, conn.transaction():
            # Lock every counter row first, in the order appends lock them: no append
            # interleaves, and no deadlock with an append holding several namespaces.
            counters = await conn.fetch(sql.lock_counters)
            if policy.max_entries_per_namespace is not None:
                for name, last_seq, pruned_seq in counters:
                    cut = last_seq - policy.max_entries_per_namespace
                    if cut > pruned_seq:
                        await conn.execute(sql.delete_rooms_through, name, cut)
                        status = await conn.execute(sql.delete_entries_through, name, cut)
                        removed += _row_count(status)
                        await conn.execute(sql.set_pruned, name, cut)
            if policy.max_age_seconds is not None:
                cutoff = now - policy.max_age_seconds
                for _name, count in await conn.fetch(sql.prune_age, cutoff):
                    removed += count
            if policy.session_max_age_seconds is not None:
                cutoff = now - policy.session_max_age_seconds
                await conn.execute(sql.prune_sessions, cutoff)
                await conn.execute(sql.prune_dead_nodes, LIVE, cutoff, now)
        if removed:
            log.debug("history pruned %d entries", removed)
        return removed


class _Statements:
    """Every statement, with the schema name spliced in once."""

    __slots__ = (
        "bump",
        "counter",
        "delete_entries_through",
        "delete_rooms_through",
        "heartbeat",
        "insert_entry",
        "insert_room",
        "last",
        "last_room",
        "lock_counters",
        "prune_age",
        "prune_dead_nodes",
        "prune_sessions",
        "save_session",
        "sessions_lost",
        "schema",
        "set_pruned",
        "since",
        "since_rooms",
        "take_session",
        "update_session",
    )

    def __init__(self, schema: str) -> None:
        self.schema = schema
        ns = f"{schema}.tidings_history_namespaces"
        entries = f"{schema}.tidings_history_entries"
        rooms = f"{schema}.tidings_history_entry_rooms"
        sessions = f"{schema}.tidings_history_sessions"
        nodes = f"{schema}.tidings_history_nodes"
        self.bump = (
            f"INSERT INTO {ns} AS n (namespace, last_seq) VALUES ($1, $2)"
            " ON CONFLICT (namespace) DO UPDATE SET last_seq = n.last_seq + excluded.last_seq"
            " RETURNING last_seq, pruned_seq"
        )
        self.counter = f"SELECT last_seq, pruned_seq FROM {ns} WHERE namespace = $1"
        self.lock_counters = (
            f"SELECT namespace, last_seq, pruned_seq FROM {ns} ORDER BY namespace FOR UPDATE"
        )
        self.set_pruned = (
            f"UPDATE {ns} SET pruned_seq = greatest(pruned_seq, $2) WHERE namespace = $1"
        )
        self.delete_rooms_through = f"DELETE FROM {rooms} WHERE namespace = $1 AND seq <= $2"
        self.delete_entries_through = f"DELETE FROM {entries} WHERE namespace = $1 AND seq <= $2"
        self.prune_age = (
            f"WITH gone AS (DELETE FROM {entries} WHERE created_at < $1 RETURNING namespace, seq),"
            f" gone_rooms AS (DELETE FROM {rooms} AS r USING gone"
            "   WHERE r.namespace = gone.namespace AND r.seq = gone.seq),"
            " tops AS (SELECT namespace, max(seq) AS top, count(*) AS n FROM gone"
            "   GROUP BY namespace),"
            f" marked AS (UPDATE {ns} AS c SET pruned_seq = greatest(c.pruned_seq, tops.top)"
            "   FROM tops WHERE c.namespace = tops.namespace)"
            " SELECT namespace, n FROM tops"
        )
        self.insert_entry = (
            f"INSERT INTO {entries} (namespace, seq, rooms, except_rooms, event, payload,"
            " attachments, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        )
        self.insert_room = f"INSERT INTO {rooms} (namespace, room, seq) VALUES ($1, $2, $3)"
        self.since = (
            f"SELECT {_COLUMNS} FROM {entries} WHERE namespace = $1 AND seq > $2"
            " ORDER BY seq LIMIT $3"
        )
        self.since_rooms = (
            f"SELECT {_COLUMNS} FROM {entries} WHERE namespace = $1 AND seq > $2"
            " AND (cardinality(rooms) = 0 OR rooms && $4::text[])"
            " AND NOT (except_rooms && $4::text[])"
            " ORDER BY seq LIMIT $3"
        )
        self.last = (
            f"SELECT {_COLUMNS} FROM {entries} WHERE namespace = $1 ORDER BY seq DESC LIMIT $2"
        )
        self.last_room = (
            f"SELECT {_COLUMNS} FROM {entries} WHERE namespace = $1 AND seq IN"
            f" (SELECT seq FROM {rooms} WHERE namespace = $1 AND room = $2"
            "  ORDER BY seq DESC LIMIT $3) ORDER BY seq DESC"
        )
        self.save_session = (
            f"INSERT INTO {sessions} (pid, sid, namespace, rooms, data, disconnected_at, node)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (pid) DO UPDATE SET"
            " sid = excluded.sid, namespace = excluded.namespace, rooms = excluded.rooms,"
            " data = excluded.data, disconnected_at = excluded.disconnected_at,"
            " node = excluded.node"
        )
        self.update_session = (
            f"UPDATE {sessions} SET sid = $2, namespace = $3, rooms = $4, data = $5,"
            " disconnected_at = $6 WHERE pid = $1 AND node = $7"
        )
        self.take_session = (
            f"DELETE FROM {sessions} AS s WHERE pid = $1"
            " RETURNING pid, sid, namespace, rooms, data, disconnected_at, node,"
            f" (SELECT last_seen FROM {nodes} AS n WHERE n.node = s.node),"
            f" (SELECT expires_at FROM {nodes} AS n WHERE n.node = s.node)"
        )
        self.prune_sessions = f"DELETE FROM {sessions} WHERE disconnected_at < $1"
        # Live sessions of a node that stopped beating long ago go, then the node.
        self.prune_dead_nodes = (
            f"WITH dead AS (DELETE FROM {nodes} WHERE last_seen < $2 AND expires_at < $3"
            "   RETURNING node)"
            f" DELETE FROM {sessions} WHERE disconnected_at = $1"
            "   AND node IN (SELECT node FROM dead)"
        )
        self.sessions_lost = (
            f"UPDATE {sessions} SET disconnected_at = $1 WHERE disconnected_at = $2 AND node = $3"
        )
        self.heartbeat = (
            f"INSERT INTO {nodes} (node, last_seen, expires_at) VALUES ($1, $2, $3)"
            " ON CONFLICT (node) DO UPDATE SET last_seen = excluded.last_seen,"
            " expires_at = excluded.expires_at"
        )


async def _create_schema(conn: PoolConnectionProxy[Record], schema: str) -> None:
    await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    await conn.execute(_SCHEMA.format(s=schema))
    meta = f"{schema}.tidings_history_meta"
    version = await conn.fetchval(f"SELECT value FROM {meta} WHERE key = 'schema_version'")
    if version is not None and int(version) > SCHEMA_VERSION:
        raise RuntimeError(
            f"history schema {schema} has version {version}; this tidings knows"
            f" up to {SCHEMA_VERSION}"
        )
    await conn.execute(
        f"INSERT INTO {meta} (key, value) VALUES ('schema_version', $1)"
        " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        str(SCHEMA_VERSION),
    )


def _session_args(record: SessionRecord) -> tuple[Any, ...]:
    """A session's columns in the order of the save and update statements."""
    return (
        record.pid, record.sid, record.namespace, list(record.rooms), record.data,
        float(record.disconnected_at), record.node,
    )


def _row_count(status: str) -> int:
    """The count at the end of a command tag such as ``DELETE 12``."""
    return int(status.rsplit(" ", 1)[-1])


def _entry(row: Any) -> Entry:
    seq, namespace, rooms, except_rooms, event, payload, attachments, created_at = row
    return Entry(
        seq,
        namespace,
        tuple(rooms),
        tuple(except_rooms),
        event,
        payload,
        tuple(attachments),
        created_at,
    )
