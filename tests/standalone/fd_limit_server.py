"""A built-in server under a low open-file limit (set by the test that starts it), whose
process then holds all but ``FREE`` descriptors, as an app's files and database
connections would: it prints ``ready PORT`` on stdout and serves until SIGTERM.

    python fd_limit_server.py FREE LOOP
"""

from __future__ import annotations

import asyncio
import logging
import os
import resource
import signal
import sys

import tidings
from tidings.standalone import serve


async def main(free: int) -> None:
    sio = tidings.Server()

    @sio.on("ask")
    async def ask(socket: tidings.Socket) -> str:
        return "answer"

    async with serve(sio, "127.0.0.1", 0) as server:
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        held = []
        while soft - len(os.listdir("/proc/self/fd")) > free:
            held.append(os.open(os.devnull, os.O_RDONLY))
        print(f"ready {server.port}", flush=True)
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()
        for fd in held:
            os.close(fd)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    free, loop_name = int(sys.argv[1]), sys.argv[2]
    if loop_name == "uvloop":
        import uvloop

        uvloop.run(main(free))
    else:
        asyncio.run(main(free))
