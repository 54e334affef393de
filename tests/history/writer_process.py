"""A child process for test_durability: appends until it is killed.

Each offset is printed (with the payload it stands for) only after ``append``
returned, so every printed line is a promise the store must keep after SIGKILL.
Usage: python writer_process.py sqlite|postgres|redis PATH_OR_SCHEMA_OR_PREFIX DSN_OR_URL WORKERS [gate]
"""

from __future__ import annotations

import asyncio
import sys

from tidings.history import (
    HistoryStore,
    PostgresHistory,
    RedisStreamsHistory,
    RetentionPolicy,
    SessionRecord,
    SQLiteHistory,
)

NAMESPACE = "/durable"


async def main(kind: str, target: str, dsn: str, workers: int, gate: bool) -> None:
    keep_all = RetentionPolicy(None, None, None)
    store: HistoryStore
    if kind == "sqlite":
        store = SQLiteHistory(target, retention=keep_all)
    elif kind == "redis":
        store = RedisStreamsHistory(dsn, key_prefix=target, retention=keep_all)
    else:
        store = PostgresHistory(dsn, schema=target, retention=keep_all)
    await store.open()
    await store.save_session(SessionRecord("pid-durable", "sid", NAMESPACE, ("r",), b"", 1.0))
    out = sys.stdout
    out.write("ready\n")
    out.flush()
    if gate:  # wait for a line on stdin, so that several writers start together
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)

    async def worker(w: int) -> None:
        i = 0
        while True:
            payload = f"w{w}-{i}"
            offset = await store.append(NAMESPACE, "e", payload.encode(), rooms=["r"], now=1.0)
            out.write(f"{offset} {payload}\n")
            out.flush()
            i += 1

    await asyncio.gather(*(worker(w) for w in range(workers)))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), len(sys.argv) > 5))
