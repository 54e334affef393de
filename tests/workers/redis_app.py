"""An app made with a Redis adapter of its own (key prefix from ``TIDINGS_TEST_PREFIX``):
its workers keep it rather than take the supervisor's local bus."""

from __future__ import annotations

import os

import tidings
from tidings.adapters.redis import RedisAdapter

sio = tidings.Server(
    adapter_factory=RedisAdapter("redis://127.0.0.1:6379/0", key_prefix=os.environ["TIDINGS_TEST_PREFIX"])
)
pid = os.getpid()


@sio.on("pid")
async def on_pid(socket: tidings.Socket) -> int:
    return pid


@sio.on("server_count")
async def on_server_count(socket: tidings.Socket) -> int:
    return await sio.server_count()
