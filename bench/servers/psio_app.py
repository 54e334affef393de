# mypy: disable-error-code="untyped-decorator"
"""python-socketio 5.18 under uvicorn (uvloop, httptools, websockets) serving the benchmark app."""

from __future__ import annotations

import argparse
import os
from typing import Any

import socketio
import uvicorn

from bench.servers.floor import rss_bytes

sio = socketio.AsyncServer(
    async_mode="asgi",
    cors_allowed_origins="*",
    ping_interval=25,
    ping_timeout=20,
    max_http_buffer_size=1_000_000,
    http_compression=False,
)
app = socketio.ASGIApp(sio, socketio_path="socket.io")


@sio.event
async def join(sid: str, room: str) -> bool:
    await sio.enter_room(sid, room)
    return True


@sio.event
async def echo(sid: str, *args: Any) -> tuple[Any, ...]:
    return args


@sio.event
async def publish(sid: str, room: str, payload: Any) -> None:
    await sio.emit("pub", payload, room=room)


@sio.event
async def mem(sid: str) -> int:
    return rss_bytes()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3000)
    ns = parser.parse_args()
    print(f"READY {ns.port} pid={os.getpid()}", flush=True)
    uvicorn.run(
        app,
        host=ns.host,
        port=ns.port,
        loop="uvloop",
        http="httptools",
        ws="websockets",
        ws_per_message_deflate=False,
        log_level="warning",
        access_log=False,
        backlog=4096,
    )


if __name__ == "__main__":
    main()
