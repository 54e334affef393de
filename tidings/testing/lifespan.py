"""A server's startup and shutdown around the test clients that use it, and settling.

A test module usually holds one ``tidings.Server`` while pytest gives each test
an event loop of its own, and a server serves on the loop it started on. So the
first test client of a server in a loop runs its ``startup`` and the last one to
leave runs its ``shutdown`` (which also waits for the handlers still running):
each test starts from a server that is not running, and ends with one that has
finished its work. ``running(server)`` holds it up across several clients in a
row (a client that reconnects and recovers its session, for instance).
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tidings.server import Server

__all__ = ["hold", "release", "running", "settle"]


@dataclass(slots=True)
class _Holders:
    loop: asyncio.AbstractEventLoop
    count: int = 0


_held: weakref.WeakKeyDictionary[Server, _Holders] = weakref.WeakKeyDictionary()


async def hold(server: Server) -> None:
    """One more user of ``server`` in this loop: the first runs its ``startup``."""
    loop = asyncio.get_running_loop()
    holders = _held.get(server)
    if holders is None or holders.loop is not loop:
        holders = _held[server] = _Holders(loop)
    if holders.count == 0:
        await server.startup()
    holders.count += 1


async def release(server: Server, timeout: float) -> None:
    """One user fewer: the last runs ``shutdown(timeout)``, which lets handlers finish."""
    holders = _held.get(server)
    if holders is None or holders.loop is not asyncio.get_running_loop() or holders.count == 0:
        return
    holders.count -= 1
    if holders.count == 0:
        await server.shutdown(timeout)


@contextlib.asynccontextmanager
async def running(server: Server, *, timeout: float = 5.0) -> AsyncIterator[Server]:
    """Run ``server``'s startup now and its shutdown when the block ends, whatever clients
    come and go in between (by default the last test client to leave shuts it down).

    ::

        async with tidings.testing.running(sio):
            async with tidings.testing.connect(sio) as first: ...
            async with tidings.testing.connect(sio) as second: ...  # the same server state
    """
    await hold(server)
    try:
        yield server
    finally:
        await release(server, timeout)


async def settle(server: Server, *, timeout: float = 5.0) -> None:
    """Wait until ``server`` runs no handler: every event, connect and disconnect handler
    started so far has finished, and what they sent has been delivered.

    ``await client.emit(...)`` returns once the server has the event; a handler that awaits
    something runs on in a task, which this waits for. ``TimeoutError`` names the tasks
    still running after ``timeout`` seconds.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    me = asyncio.current_task()
    quiet = 0
    while quiet < 2:
        # Two quiet turns: deliveries are made on the next turn, and a client's answer
        # may start a handler that the turn after shows.
        await asyncio.sleep(0)
        tasks = {t for t in server.tasks if t is not me and not t.done()}
        if not tasks:
            quiet += 1
            continue
        quiet = 0
        remaining = deadline - loop.time()
        if remaining > 0:
            _, tasks = await asyncio.wait(tasks, timeout=remaining)
        if tasks and loop.time() >= deadline:
            names = ", ".join(sorted(repr(t.get_coro()) for t in tasks)[:5])
            raise TimeoutError(f"{len(tasks)} server task(s) still running after {timeout}s: {names}")
