"""The shared store on Redis: one stream per namespace, offsets as stream ids.

Offsets: a counter per namespace (``HINCRBY``) and the ``XADD`` of the entry with the
id ``<offset>-0`` run in one Lua script, so they are one order per namespace whatever
the number of writers, gap-free, and an entry is visible once its offset is given.
Concurrent appends of this process share one script call (``GroupCommit``). The counter
outlives the entries: offsets are never reused after trimming.

Entries keep their rooms and exceptions, so a replay is filtered as a broadcast is.
Sessions are hashes, indexed by their disconnection time (a sorted set, ``+inf`` while
live) and by node (a set of each node's live sessions); node heartbeats are one hash.

Keys (``P`` is ``key_prefix``): ``P:ns:<namespace>:log`` (stream), ``P:ns:<namespace>:meta``
(``last``, ``pruned``), ``P:namespaces``, ``P:session:<pid>``, ``P:sessions``,
``P:node:<node>:live``, ``P:nodes``. One Redis server (or a primary with replicas);
the scripts touch several keys, so Redis Cluster is not supported.

Durability is Redis's: an append returns when Redis has applied it; with
``appendonly yes`` and ``appendfsync always`` that is on disk, as the SQL stores promise.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import Any

try:
    import redis.asyncio as aioredis
    from redis.exceptions import WatchError
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise ImportError("RedisStreamsHistory needs redis: pip install 'tidings[redis]'") from exc

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
    visible,
)
from tidings.history.batching import BatchedAppends, GroupCommit
from tidings.history.blobs import pack_blobs, unpack_blobs

log = logging.getLogger("tidings.history")

#: Seconds by which the clocks of the writers may differ (retention by age reads this far).
_SKEW = 60.0

# KEYS: meta, log per namespace of the batch, then the namespaces set.
# ARGV: max entries (0: none), then _FIELDS values per entry. Returns the offsets.
_APPEND = """
local limit = tonumber(ARGV[1])
local names = (#KEYS - 1) / 2
local out = {}
for i = 2, #ARGV, 7 do
  local k = tonumber(ARGV[i])
  local meta, stream = KEYS[2 * k - 1], KEYS[2 * k]
  local seq = redis.call('HINCRBY', meta, 'last', 1)
  redis.call('XADD', stream, seq .. '-0', 'e', ARGV[i + 1], 'p', ARGV[i + 2], 'r', ARGV[i + 3],
             'x', ARGV[i + 4], 'a', ARGV[i + 5], 't', ARGV[i + 6])
  out[#out + 1] = seq
end
for k = 1, names do
  local meta, stream = KEYS[2 * k - 1], KEYS[2 * k]
  redis.call('SADD', KEYS[#KEYS], meta)
  if limit > 0 then
    local last = tonumber(redis.call('HGET', meta, 'last'))
    local pruned = tonumber(redis.call('HGET', meta, 'pruned') or '0')
    local cut = last - limit
    if cut > pruned then
      redis.call('XTRIM', stream, 'MINID', (cut + 1) .. '-0')
      redis.call('HSET', meta, 'pruned', cut)
    end
  end
end
return out
"""

# KEYS: meta, log. ARGV: the offset through which every entry goes, then offsets of older
# entries to drop one by one (by age: writers' clocks interleave). Returns how many went.
_TRIM = """
local pruned = tonumber(redis.call('HGET', KEYS[1], 'pruned') or '0')
local top = tonumber(ARGV[1])
local before = redis.call('XLEN', KEYS[2])
if top > pruned then
  redis.call('XTRIM', KEYS[2], 'MINID', (top + 1) .. '-0')
end
for i = 2, #ARGV do
  local seq = tonumber(ARGV[i])
  redis.call('XDEL', KEYS[2], seq .. '-0')
  if seq > top then top = seq end
end
if top > pruned then redis.call('HSET', KEYS[1], 'pruned', top) end
return before - redis.call('XLEN', KEYS[2])
"""

# KEYS: the session, the sessions index, the nodes hash. ARGV: pid, the live-set key prefix.
_TAKE = """
local f = redis.call('HGETALL', KEYS[1])
if #f == 0 then return false end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
local h = {}
for i = 1, #f, 2 do h[f[i]] = f[i + 1] end
redis.call('SREM', ARGV[2] .. h['node'] .. ':live', ARGV[1])
local beat = redis.call('HGET', KEYS[3], h['node'])
return {h['sid'], h['ns'], h['rooms'], h['data'], h['at'], h['node'], beat or ''}
"""

# KEYS: the node's live set, the sessions index. ARGV: now, node, session key prefix.
_LOST = """
local n = 0
for _, pid in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local key = ARGV[3] .. pid
  local v = redis.call('HMGET', key, 'at', 'node')
  if v[1] == 'live' and v[2] == ARGV[2] then
    redis.call('HSET', key, 'at', ARGV[1])
    redis.call('ZADD', KEYS[2], ARGV[1], pid)
    n = n + 1
  end
end
redis.call('DEL', KEYS[1])
return n
"""


class RedisStreamsHistory(BatchedAppends):
    """``HistoryStore`` on Redis streams (``pip install 'tidings[redis]'``)."""

    __slots__ = (
        "_append", "_client", "_commit", "_lost", "_max_batch", "_owns_client", "_prefix",
        "_retention", "_take", "_trim", "_url",
    )

    def __init__(
        self,
        url_or_client: str | aioredis.Redis = "redis://127.0.0.1:6379/0",
        *,
        key_prefix: str = "tidings:history",
        retention: RetentionPolicy = DEFAULT_RETENTION,
        max_batch: int = 1000,
    ) -> None:
        if not key_prefix:
            raise ValueError("key_prefix must not be empty")
        self._url = url_or_client if isinstance(url_or_client, str) else None
        self._client: Any = None if isinstance(url_or_client, str) else url_or_client
        self._owns_client = self._url is not None
        self._prefix = key_prefix
        self._retention = retention
        self._max_batch = max_batch
        self._commit: GroupCommit | None = None
        self._append: Any = None
        self._trim: Any = None
        self._take: Any = None
        self._lost: Any = None

    async def open(self) -> None:
        if self._commit is not None:
            raise RuntimeError("the history store is already open")
        if self._owns_client:
            assert self._url is not None
            self._client = aioredis.Redis.from_url(self._url)
        client = self._redis()
        await client.ping()
        self._append = client.register_script(_APPEND)
        self._trim = client.register_script(_TRIM)
        self._take = client.register_script(_TAKE)
        self._lost = client.register_script(_LOST)
        self._commit = GroupCommit(self._write_batch, self._max_batch)
        log.debug("history open: redis streams under %s", self._prefix)

    async def close(self) -> None:
        commit = self._commit
        if commit is None:
            return
        self._commit = None
        try:
            await commit.close()
        finally:
            if self._owns_client and self._client is not None:
                client, self._client = self._client, None
                await client.aclose()

    # redis-py's types do not know responses are bytes here (no decode_responses): Any.
    def _redis(self) -> Any:
        if self._client is None:
            raise RuntimeError("the history store is not open")
        return self._client

    def _open(self) -> Any:
        if self._commit is None:
            raise RuntimeError("the history store is not open")
        return self._redis()

    def _meta(self, namespace: str) -> str:
        return f"{self._prefix}:ns:{namespace}:meta"

    def _log(self, namespace: str) -> str:
        return f"{self._prefix}:ns:{namespace}:log"

    # -- appends (append, append_many: BatchedAppends) --------------------------------

    async def _write_batch(self, entries: list[NewEntry]) -> list[int]:
        names = list(dict.fromkeys(e.namespace for e in entries))
        index = {name: i + 1 for i, name in enumerate(names)}
        keys: list[str] = []
        for name in names:
            keys += [self._meta(name), self._log(name)]
        keys.append(f"{self._prefix}:namespaces")
        limit = self._retention.max_entries_per_namespace or 0
        args: list[Any] = [limit]
        for e in entries:
            args += [
                index[e.namespace], e.event, e.payload, _rooms_json(e.rooms),
                _rooms_json(e.except_rooms), pack_blobs(e.attachments) or b"", repr(float(e.created_at)),
            ]
        offsets = await self._append(keys=keys, args=args, client=self._open())
        return [int(o) for o in offsets]

    # -- reads ----------------------------------------------------------------------

    async def since(
        self,
        namespace: str,
        offset: int,
        *,
        rooms: Iterable[str] | None = None,
        limit: int = 1000,
    ) -> list[Entry]:
        client = self._open()
        check_offset(offset)
        check_count(limit, "limit", 1)
        mine = socket_rooms(rooms)
        found: list[Entry] = []
        start = f"({offset}-0"
        while len(found) < limit:
            page = await client.xrange(self._log(namespace), start, "+", count=max(limit, 100))
            for raw_id, fields in page:
                entry = _entry(namespace, raw_id, fields)
                if mine is None or visible(entry.rooms, entry.except_rooms, mine):
                    found.append(entry)
                    if len(found) == limit:
                        break
            if len(page) < max(limit, 100):
                break
            start = "(" + page[-1][0].decode()
        return found

    async def last(self, namespace: str, room: str | None, n: int) -> list[Entry]:
        client = self._open()
        check_count(n, "n", 0)
        found: list[Entry] = []
        end = "+"
        while len(found) < n:
            page = await client.xrevrange(self._log(namespace), end, "-", count=max(n, 100))
            for raw_id, fields in page:
                entry = _entry(namespace, raw_id, fields)
                if room is None or room in entry.rooms:
                    found.append(entry)
                    if len(found) == n:
                        break
            if len(page) < max(n, 100):
                break
            end = "(" + page[-1][0].decode()
        found.reverse()
        return found

    async def last_offset(self, namespace: str) -> int:
        last, _ = await self._counter(namespace)
        return last

    async def covers(self, namespace: str, offset: int) -> bool:
        check_offset(offset)
        last, pruned = await self._counter(namespace)
        return pruned <= offset <= last

    async def _counter(self, namespace: str) -> tuple[int, int]:
        last, pruned = await self._open().hmget(self._meta(namespace), ["last", "pruned"])
        return int(last or 0), int(pruned or 0)

    # -- sessions -------------------------------------------------------------------

    def _session(self, pid: str) -> str:
        return f"{self._prefix}:session:{pid}"

    def _live(self, node: str) -> str:
        return f"{self._prefix}:node:{node}:live"

    async def save_session(self, record: SessionRecord) -> None:
        client = self._open()
        if not isinstance(record, SessionRecord):
            raise TypeError("save_session takes a SessionRecord")
        async with client.pipeline(transaction=True) as pipe:
            self._queue_save(pipe, record)
            await pipe.execute()
        log.debug("history session saved: sid=%s namespace=%s", record.sid, record.namespace)

    def _queue_save(self, pipe: Any, record: SessionRecord) -> None:
        live = record.disconnected_at == LIVE
        at = "live" if live else repr(float(record.disconnected_at))
        pipe.delete(self._session(record.pid))
        pipe.hset(self._session(record.pid), mapping={
            "sid": record.sid, "ns": record.namespace, "rooms": _rooms_json(record.rooms),
            "data": record.data, "at": at, "node": record.node,
        })
        pipe.zadd(f"{self._prefix}:sessions", {record.pid: "+inf" if live else at})
        if live:
            pipe.sadd(self._live(record.node), record.pid)
        else:
            pipe.srem(self._live(record.node), record.pid)

    async def update_session(self, record: SessionRecord) -> bool:
        client = self._open()
        key = self._session(record.pid)
        async with client.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(key)
                    if await pipe.hget(key, "node") != record.node.encode():
                        await pipe.unwatch()
                        return False
                    pipe.multi()
                    self._queue_save(pipe, record)
                    await pipe.execute()
                    return True
                except WatchError:
                    continue  # changed meanwhile: look again

    async def take_session(self, pid: str, max_age: float, now: float) -> SessionRecord | None:
        client = self._open()
        keys = [self._session(pid), f"{self._prefix}:sessions", f"{self._prefix}:nodes"]
        row = await self._take(keys=keys, args=[pid, f"{self._prefix}:node:"], client=client)
        if not row:
            return None
        sid, namespace, rooms, data, at_raw, node, beat = row
        last_seen = expires_at = None
        if beat:
            last_seen, expires_at = (float(v) for v in beat.split())
        record_at = LIVE if at_raw == b"live" else float(at_raw)
        at = disconnected_at(record_at, last_seen, expires_at, now)
        if now - at > max_age:
            log.debug("history session expired: sid=%s", sid.decode())
            return None
        return SessionRecord(
            pid, sid.decode(), namespace.decode(), tuple(json.loads(rooms)), bytes(data), at,
            node.decode(),
        )

    async def sessions_lost(self, now: float, node: str = DEFAULT_NODE) -> int:
        keys = [self._live(node), f"{self._prefix}:sessions"]
        args = [repr(float(now)), node, f"{self._prefix}:session:"]
        return int(await self._lost(keys=keys, args=args, client=self._open()))

    async def heartbeat(self, node: str, now: float, timeout: float) -> None:
        await self._open().hset(f"{self._prefix}:nodes", node, f"{now!r} {now + timeout!r}")

    # -- retention ------------------------------------------------------------------

    async def prune(self, now: float) -> int:
        client = self._open()
        policy = self._retention
        removed = 0
        metas = await client.smembers(f"{self._prefix}:namespaces")
        for meta_key in sorted(metas):
            meta = meta_key.decode()
            stream = meta.removesuffix(":meta") + ":log"
            last, pruned = (int(v or 0) for v in await client.hmget(meta, ["last", "pruned"]))
            cut = pruned
            if policy.max_entries_per_namespace is not None:
                cut = max(cut, last - policy.max_entries_per_namespace)
            old: list[int] = []
            if policy.max_age_seconds is not None:
                old = await self._older_than(stream, now - policy.max_age_seconds, cut)
            if cut > pruned or old:
                args = [cut, *old]
                removed += int(await self._trim(keys=[meta, stream], args=args, client=client))
        if policy.session_max_age_seconds is not None:
            await self._prune_sessions(client, now, now - policy.session_max_age_seconds)
        if removed:
            log.debug("history pruned %d entries", removed)
        return removed

    async def _older_than(self, stream: str, cutoff: float, after: int) -> list[int]:
        """Offsets past ``after`` of entries older than ``cutoff``, read from the oldest on
        until entries are clearly younger (writers' clocks may differ by ``_SKEW``)."""
        found: list[int] = []
        start = f"({after}-0"
        while True:
            page = await self._open().xrange(stream, start, "+", count=500)
            for raw_id, fields in page:
                created = float(fields[b"t"])
                if created >= cutoff + _SKEW:
                    return found
                if created < cutoff:
                    found.append(int(raw_id.split(b"-")[0]))
            if len(page) < 500:
                return found
            start = "(" + page[-1][0].decode()

    async def _prune_sessions(self, client: Any, now: float, cutoff: float) -> None:
        index = f"{self._prefix}:sessions"
        old = await client.zrangebyscore(index, "-inf", f"({cutoff!r}")
        dead: list[bytes] = []
        for node, beat in (await client.hgetall(f"{self._prefix}:nodes")).items():
            last_seen, expires_at = (float(v) for v in beat.split())
            if last_seen < cutoff and expires_at < now:
                dead.append(node)
        async with client.pipeline(transaction=True) as pipe:
            for pid in old:
                pipe.delete(self._session(pid.decode()))
                pipe.zrem(index, pid)
            for node in dead:
                for pid in await client.smembers(self._live(node.decode())):
                    pipe.delete(self._session(pid.decode()))
                    pipe.zrem(index, pid)
                pipe.delete(self._live(node.decode()))
                pipe.hdel(f"{self._prefix}:nodes", node)
            await pipe.execute()


def _rooms_json(rooms: tuple[str, ...]) -> str:
    return json.dumps(rooms, ensure_ascii=False, separators=(",", ":"))


def _entry(namespace: str, raw_id: bytes, fields: dict[bytes, bytes]) -> Entry:
    return Entry(
        int(raw_id.split(b"-")[0]),
        namespace,
        tuple(json.loads(fields[b"r"])),
        tuple(json.loads(fields[b"x"])),
        fields[b"e"].decode(),
        bytes(fields[b"p"]),
        unpack_blobs(fields[b"a"] or None),
        float(fields[b"t"]),
    )
