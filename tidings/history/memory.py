"""The in-process store: the non-durable default and the reference the others are tested against.

Everything is lost with the process; within it, the object is the storage, so
closing and reopening the same instance keeps the log and its offsets.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import replace

from tidings.history.base import (
    DEFAULT_NODE,
    DEFAULT_RETENTION,
    LIVE,
    AppendOne,
    Entry,
    NewEntry,
    RetentionPolicy,
    SessionRecord,
    check_count,
    check_entries,
    check_offset,
    disconnected_at,
    socket_rooms,
    visible,
)


class _Log:
    __slots__ = ("entries", "last_seq", "pruned_seq")

    def __init__(self) -> None:
        self.entries: deque[Entry] = deque()
        self.last_seq = 0
        self.pruned_seq = 0


class MemoryHistory(AppendOne):
    __slots__ = ("_logs", "_nodes", "_open", "_retention", "_sessions")

    def __init__(self, *, retention: RetentionPolicy = DEFAULT_RETENTION) -> None:
        self._retention = retention
        self._logs: dict[str, _Log] = {}
        self._sessions: dict[str, SessionRecord] = {}
        self._nodes: dict[str, tuple[float, float]] = {}  # node: (last seen, expires at)
        self._open = False

    async def open(self) -> None:
        self._open = True

    async def close(self) -> None:
        self._open = False

    def _check_open(self) -> None:
        if not self._open:
            raise RuntimeError("the history store is not open")

    async def append_many(self, entries: Sequence[NewEntry]) -> list[int]:
        self._check_open()
        check_entries(entries)
        offsets = []
        for new in entries:
            log = self._logs.get(new.namespace)
            if log is None:
                log = self._logs[new.namespace] = _Log()
            log.last_seq += 1
            log.entries.append(new.with_offset(log.last_seq))
            offsets.append(log.last_seq)
            self._trim(log)
        return offsets

    def _trim(self, log: _Log) -> int:
        limit = self._retention.max_entries_per_namespace
        removed = 0
        if limit is None:
            return 0
        while len(log.entries) > limit:
            log.pruned_seq = max(log.pruned_seq, log.entries.popleft().offset)
            removed += 1
        return removed

    async def since(
        self,
        namespace: str,
        offset: int,
        *,
        rooms: Iterable[str] | None = None,
        limit: int = 1000,
    ) -> list[Entry]:
        self._check_open()
        check_offset(offset)
        check_count(limit, "limit", 1)
        wanted = socket_rooms(rooms)
        log = self._logs.get(namespace)
        if log is None:
            return []
        newer: list[Entry] = []
        for entry in reversed(log.entries):  # the recent end is where replays start
            if entry.offset <= offset:
                break
            newer.append(entry)
        newer.reverse()
        if wanted is not None:
            newer = [e for e in newer if visible(e.rooms, e.except_rooms, wanted)]
        return newer[:limit]

    async def last(self, namespace: str, room: str | None, n: int) -> list[Entry]:
        self._check_open()
        check_count(n, "n", 0)
        log = self._logs.get(namespace)
        if log is None or n == 0:
            return []
        found: list[Entry] = []
        for entry in reversed(log.entries):
            if room is None or room in entry.rooms:
                found.append(entry)
                if len(found) == n:
                    break
        found.reverse()
        return found

    async def last_offset(self, namespace: str) -> int:
        self._check_open()
        log = self._logs.get(namespace)
        return 0 if log is None else log.last_seq

    async def covers(self, namespace: str, offset: int) -> bool:
        self._check_open()
        check_offset(offset)
        log = self._logs.get(namespace)
        if log is None:
            return offset == 0
        return log.pruned_seq <= offset <= log.last_seq

    async def save_session(self, record: SessionRecord) -> None:
        self._check_open()
        if not isinstance(record, SessionRecord):
            raise TypeError("save_session takes a SessionRecord")
        self._sessions[record.pid] = record

    async def update_session(self, record: SessionRecord) -> bool:
        self._check_open()
        held = self._sessions.get(record.pid)
        if held is None or held.node != record.node:
            return False
        self._sessions[record.pid] = record
        return True

    async def take_session(self, pid: str, max_age: float, now: float) -> SessionRecord | None:
        self._check_open()
        record = self._sessions.pop(pid, None)
        if record is None:
            return None
        when = self._disconnected_at(record, now)
        if now - when > max_age:
            return None
        return record if when == record.disconnected_at else replace(record, disconnected_at=when)

    def _disconnected_at(self, record: SessionRecord, now: float) -> float:
        last_seen, expires_at = self._nodes.get(record.node, (None, None))
        return disconnected_at(record.disconnected_at, last_seen, expires_at, now)

    async def sessions_lost(self, now: float, node: str = DEFAULT_NODE) -> int:
        self._check_open()
        lost = [
            r for r in self._sessions.values() if r.disconnected_at == LIVE and r.node == node
        ]
        for record in lost:
            self._sessions[record.pid] = replace(record, disconnected_at=now)
        return len(lost)

    async def heartbeat(self, node: str, now: float, timeout: float) -> None:
        self._check_open()
        self._nodes[node] = (now, now + timeout)

    async def prune(self, now: float) -> int:
        self._check_open()
        removed = 0
        max_age = self._retention.max_age_seconds
        for log in self._logs.values():
            removed += self._trim(log)
            if max_age is not None:
                cutoff = now - max_age
                kept: deque[Entry] = deque()
                for entry in log.entries:
                    if entry.created_at < cutoff:
                        log.pruned_seq = max(log.pruned_seq, entry.offset)
                        removed += 1
                    else:
                        kept.append(entry)
                log.entries = kept
        session_age = self._retention.session_max_age_seconds
        if session_age is not None:
            stale = [
                pid
                for pid, r in self._sessions.items()
                if now - self._disconnected_at(r, now) > session_age
            ]
            for pid in stale:
                del self._sessions[pid]
            for node in [n for n, (seen, _) in self._nodes.items() if now - seen > session_age]:
                del self._nodes[node]
        return removed
