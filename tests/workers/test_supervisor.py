"""The supervisor's own duties: a target that cannot start, and workers that lose it."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

from tests.e2e.harness import NodeClient

from .supervised import HERE, ROOT, Supervised, alive
from .test_workers_serve import spread_clients


async def test_an_app_that_cannot_be_imported_stops_the_supervisor_with_its_status() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tidings", "serve", "no_such_module:sio", "--workers", "2",
        "--port", "0", cwd=HERE, env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 1
    assert b"failed to start (exit status 1): stopping" in err
    assert b"cannot import 'no_such_module'" in err


async def test_workers_drain_and_end_when_their_supervisor_is_killed(node: NodeClient) -> None:
    served = await Supervised.start("--workers", "2", "--drain-spread", "0")
    try:
        by_pid = await spread_clients(node, served.url)
        sockets = [s for group in by_pid.values() for s in group]
        served.proc.send_signal(signal.SIGKILL)
        for socket in sockets:
            assert await socket.disconnected(timeout=10) == "transport close"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while any(alive(pid) for pid in by_pid):  # nothing to await: they are not our children
            assert loop.time() < deadline, f"workers left running: {by_pid.keys()}"
            await asyncio.sleep(0.05)
    finally:
        await served.stop()


async def test_the_code_entry_point_serves_and_drains(node: NodeClient) -> None:
    code = (
        "import logging, sys, tidings.workers\n"
        "logging.basicConfig(level=logging.INFO)\n"
        "sys.exit(tidings.workers.run('workers_app:sio', workers=2, port=0, drain_spread=0.5,"
        " node='code', log_level='info'))\n"
    )
    served = await Supervised.run("-c", code)
    try:
        assert any("(node code)" in line for line in served.lines)
        by_pid = await spread_clients(node, served.url)
        assert len(by_pid) == 2
        assert any("worker 1 (code-w1) serving" in line for line in served.lines)
    finally:
        assert await served.stop() == 0
    assert not any(alive(pid) for pid in by_pid)
