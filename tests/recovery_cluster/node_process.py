"""A tidings cluster node as a process of its own, so that a test can SIGKILL it.

Redis adapter (classic format) on the test's key prefix, a shared history store
(PostgreSQL or Redis streams) and connection state recovery with a short heartbeat.
Prints JSON lines: ``ready {port}``, ``connection {sid, recovered}``, ``said {text}``
(just before a ``say`` is acknowledged), ``done {ref}``. Reads JSON commands on stdin:
``emit {room, text}`` and ``burst {room, prefix, count}`` (broadcasts from this node).
Usage: python node_process.py CONFIG_JSON
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import tidings
import tidings.standalone
from tidings.adapters.redis import RedisAdapter
from tidings.history import HistoryStore, PostgresHistory, RedisStreamsHistory


def out(**fields: Any) -> None:
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


def make_server(cfg: dict[str, Any]) -> tidings.Server:
    history: HistoryStore
    if cfg["history"] == "postgres":
        history = PostgresHistory(cfg["dsn"], schema=cfg["target"])
    else:
        history = RedisStreamsHistory(cfg["redis"], key_prefix=cfg["target"])
    sio = tidings.Server(
        adapter_factory=RedisAdapter(cfg["redis"], key_prefix=cfg["prefix"]),
        history=history,
        connection_state_recovery=tidings.RecoveryOptions(
            max_disconnection_duration=cfg["max_away"], heartbeat_interval=cfg["heartbeat"]
        ),
        node_id=cfg["node"],
    )

    @sio.on("connect")
    def connect(socket: tidings.Socket, auth: Any) -> None:
        out(ev="connection", sid=socket.id, recovered=socket.recovered)

    @sio.event
    def join(socket: tidings.Socket, room: str) -> str:
        socket.join(room)
        return "joined"

    @sio.event
    def keep(socket: tidings.Socket, key: str, value: Any) -> str:
        socket.data[key] = value
        return "kept"

    @sio.event
    def whoami(socket: tidings.Socket) -> dict[str, Any]:
        return {
            "sid": socket.id,
            "rooms": sorted(socket.rooms),
            "data": socket.data,
            "recovered": socket.recovered,
            "node": cfg["node"],
        }

    @sio.event
    async def say(socket: tidings.Socket, room: str, text: str) -> str:
        await sio.to(room).emit("msg", text)  # committed to the store when this returns
        out(ev="said", text=text)
        return "stored"

    return sio


async def serve_commands(sio: tidings.Server) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        cmd = json.loads(line)
        if cmd["op"] == "emit":
            await sio.to(cmd["room"]).emit("msg", cmd["text"])
        elif cmd["op"] == "burst":
            room, prefix, count = cmd["room"], cmd["prefix"], cmd["count"]
            for start in range(0, count, 8):  # 8 at once: the adapter's publish pool is bounded
                await asyncio.gather(
                    *(sio.to(room).emit("msg", f"{prefix}{i}") for i in range(start, min(start + 8, count)))
                )
        out(ev="done", ref=cmd["ref"])


async def main(cfg: dict[str, Any]) -> None:
    sio = make_server(cfg)
    async with tidings.standalone.serve(sio, "127.0.0.1", 0) as srv:
        out(ev="ready", port=srv.port)
        await serve_commands(sio)


if __name__ == "__main__":
    asyncio.run(main(json.loads(sys.argv[1])))
