"""A Socket.IO server for the abuse tests, in a process of its own (its RSS is measured).

    python -m tests.abuse.flood_server builtin|uvicorn [max_pending_events [option=value...]]

Prints ``port <n>`` once it listens, and serves until killed. Its handlers:
``slow`` awaits (an attacker floods it), ``echo`` acknowledges at once (the canary),
``stats`` answers how many ``slow`` events ran and the process's RSS and peak RSS.
"""

from __future__ import annotations

import asyncio
import socket
import sys
from typing import Any

import tidings
from tidings.standalone import serve


def memory_kb() -> dict[str, int]:
    """VmRSS and VmHWM (peak) of this process, in kB (Linux)."""
    found: dict[str, int] = {}
    with open("/proc/self/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                found[key] = int(value.split()[0])
    return found


def make_server(max_pending_events: int, **options: float) -> tidings.Server:
    sio = tidings.Server(max_pending_events=max_pending_events, **options)  # type: ignore[arg-type]
    handled = {"slow": 0}

    @sio.on("slow")
    async def slow(socket: Any, *args: Any) -> None:
        await asyncio.sleep(0.001)
        handled["slow"] += 1

    @sio.on("echo")
    def echo(socket: Any, value: Any) -> Any:
        return value

    @sio.on("stats")
    def stats(socket: Any) -> dict[str, int]:
        return {"handled": handled["slow"], **memory_kb()}

    return sio


async def main(kind: str, max_pending_events: int, **options: float) -> None:
    sio = make_server(max_pending_events, **options)
    if kind == "builtin":
        async with serve(sio, "127.0.0.1", 0) as server:
            print("port", server.port, flush=True)
            await asyncio.Event().wait()
    else:
        import uvicorn

        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(2048)  # connections wait in the backlog until uvicorn accepts them
        print("port", sock.getsockname()[1], flush=True)
        config = uvicorn.Config(
            tidings.ASGIApp(sio), log_level="warning", ws="websockets-sansio", lifespan="on"
        )
        await uvicorn.Server(config).serve(sockets=[sock])


if __name__ == "__main__":
    extra = dict(arg.split("=", 1) for arg in sys.argv[3:])
    asyncio.run(main(
        sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 256,
        **{key: float(value) if "." in value else int(value) for key, value in extra.items()},
    ))
