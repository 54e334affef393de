"""tidings on its built-in server with uvloop, serving the benchmark app.

With ``--redis URL --redis-key PREFIX`` it is a cluster node: the Redis adapter in the
classic format of ``@socket.io/redis-adapter``, so that it can face Node nodes too.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
from collections.abc import Callable
from typing import Any

import tidings
import tidings.standalone
from bench.servers.floor import rss_bytes
from tidings.adapters.base import Adapter, LocalNamespace

AdapterFactory = Callable[[LocalNamespace], Adapter]


def build(adapter_factory: AdapterFactory | None = None, deflate: bool = False) -> tidings.Server:
    """The app; ``adapter_factory`` None keeps the server's default (rooms in this process).
    ``deflate``: permessage-deflate for clients that offer it (``bench.deflate``; off in every
    scenario of ``bench/run``, as in the other servers)."""
    # max_connections: the safe default (10,000) is below the largest fan-out plus its publisher.
    options: dict[str, Any] = {} if adapter_factory is None else {"adapter_factory": adapter_factory}
    if deflate:
        options["per_message_deflate"] = True
    sio = tidings.Server(cors_allowed_origins="*", ping_interval=25, ping_timeout=20,
                         max_http_buffer_size=1_000_000, max_connections=100_000, **options)

    @sio.event
    async def join(socket: Any, room: str) -> bool:
        socket.join(room)
        return True

    @sio.event
    async def echo(socket: Any, *args: Any) -> tuple[Any, ...]:
        return args

    @sio.event
    async def publish(socket: Any, room: str, payload: Any) -> None:
        await sio.to(room).emit("pub", payload)

    @sio.event
    async def mem(socket: Any) -> int:
        return rss_bytes()

    return sio


def redis_adapter(url: str, key_prefix: str) -> AdapterFactory:
    """Imported here: the single-server cases need neither redis-py nor msgpack."""
    from tidings.adapters.redis import RedisAdapter

    return RedisAdapter(url, format="classic", key_prefix=key_prefix)


async def serve(sio: tidings.Server, host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    async with tidings.standalone.serve(sio, host, port):
        print(f"READY {port} pid={os.getpid()}", flush=True)
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3000)
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    parser.add_argument("--redis", metavar="URL", help="cluster node: the Redis adapter on URL")
    parser.add_argument("--redis-key", default="socket.io", help="the adapter's key prefix")
    parser.add_argument("--deflate", action="store_true", help="permessage-deflate on")
    ns = parser.parse_args()
    sio = build(redis_adapter(ns.redis, ns.redis_key) if ns.redis else None, ns.deflate)
    if ns.loop == "uvloop":
        import uvloop

        uvloop.run(serve(sio, ns.host, ns.port))
    else:
        asyncio.run(serve(sio, ns.host, ns.port))


if __name__ == "__main__":
    main()
