"""tidings on its built-in server with uvloop, serving the benchmark app."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
from typing import Any

import tidings
import tidings.standalone
from bench.servers.floor import rss_bytes

# max_connections: the safe default (10,000) is below the largest fan-out plus its publisher.
sio = tidings.Server(cors_allowed_origins="*", ping_interval=25, ping_timeout=20,
                     max_http_buffer_size=1_000_000, max_connections=100_000)


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


async def serve(host: str, port: int) -> None:
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
    ns = parser.parse_args()
    if ns.loop == "uvloop":
        import uvloop

        uvloop.run(serve(ns.host, ns.port))
    else:
        asyncio.run(serve(ns.host, ns.port))


if __name__ == "__main__":
    main()
