"""The server's task set (``Server.tasks``, what shutdown waits for) holds only what still
runs: every finished handler task leaves it, whatever the task factory.

An eager task factory (Python 3.12+) runs a task up to its first await inside
``create_task``, so a handler that does not suspend has finished before the server could
store its task; on 3.12+ each case also runs with that factory set on the test's loop,
whichever loop the suite was asked to use.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from typing import Any

import pytest

import tidings
from tests.server.conftest import PollingPeer
from tidings.history import MemoryHistory
from tidings.standalone.loops import eager_task_factory

FACTORIES = ["as configured"] + (["eager"] if sys.version_info >= (3, 12) else [])


@pytest.fixture(params=FACTORIES)
async def task_factory(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    loop = asyncio.get_running_loop()
    before = loop.get_task_factory()
    if request.param == "eager":
        loop.set_task_factory(eager_task_factory)
    try:
        yield request.param
    finally:
        loop.set_task_factory(before)


@pytest.mark.parametrize("concurrent_events", [False, True], ids=["queued", "concurrent"])
async def test_finished_handler_tasks_leave_the_servers_set(
    task_factory: str, concurrent_events: bool
) -> None:
    sio = tidings.Server(
        ping_interval=5, ping_timeout=5, concurrent_events=concurrent_events,
        history=MemoryHistory(), connection_state_recovery=True,
    )
    tracked: list[bool] = []
    reasons: list[str] = []
    both_gone = asyncio.Event()

    @sio.on("connect")
    async def connect(socket: tidings.Socket, auth: Any) -> None:
        if auth == {"slow": True}:
            await asyncio.sleep(0)

    @sio.event
    async def quick(socket: tidings.Socket, n: int) -> int:
        return n

    @sio.event
    async def slow(socket: tidings.Socket, n: int) -> int:
        await asyncio.sleep(0.01)
        tracked.append(asyncio.current_task() in sio.tasks)
        return n

    @sio.event
    async def disconnect(socket: tidings.Socket, reason: str) -> None:
        if reason == "client namespace disconnect":
            await asyncio.sleep(0)
        reasons.append(reason)
        if len(reasons) == 2:
            both_gone.set()

    leaving, kicked = PollingPeer(sio), PollingPeer(sio)
    for peer, auth in ((leaving, None), (kicked, {"slow": True})):
        await peer.open()
        await peer.connect(auth=auth)
        await peer.post('421["quick",1]')
        assert await peer.next() == "431[1]"
        await peer.post('422["slow",2]', '423["quick",3]')
        assert sorted([await peer.next(), await peer.next()]) == ["432[2]", "433[3]"]
    assert tracked == [True, True]  # a handler that suspends runs in a task the server holds

    await leaving.post("41")
    await sio.disconnect_sockets()
    assert await kicked.next() == "41"
    async with asyncio.timeout(5):
        await both_gone.wait()
        while running := [task for task in sio.tasks if not task.done()]:
            await asyncio.wait(running)
    await asyncio.sleep(0)  # the done callbacks of the last ones
    assert sorted(reasons) == ["client namespace disconnect", "server namespace disconnect"]
    assert sio.tasks == frozenset()  # nothing finished is kept
    await sio.shutdown(timeout=0.1)
