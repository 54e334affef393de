"""One client floods events at a handler that awaits; another client's acks stay fast.

The server runs in a process of its own (built-in, and under uvicorn) so that its memory
is its own; the attacker writes 100,000 events on one WebSocket as fast as TCP takes them,
and the canary, the official client in Node, times 200 acks meanwhile. With
``max_pending_events`` the server stops reading the attacker (TCP pushes back on it
alone), so its memory stays bounded and the canary is served between the attacker's events.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import statistics
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.abuse.raw_client import connect_websocket, frame

REPO_ROOT = Path(__file__).resolve().parents[2]
CANARY = Path(__file__).resolve().parent / "node" / "canary.mjs"
EVENTS = 100_000
PADDING = "x" * 200
#: What the server may grow by while flooded (a bounded queue, one read of the socket,
#: the attacker's TCP buffers); without the bound, 100,000 queued events grow it far more.
RSS_GROWTH_BOUND_MB = 40
P99_BOUND_MS = 50.0


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


@contextlib.asynccontextmanager
async def flood_server(
    kind: str, max_pending: int = 256, *options: str
) -> AsyncIterator[tuple[int, int]]:
    """(pid, port) of ``tests.abuse.flood_server`` running ``kind`` (``options``: more of
    ``tidings.Server``'s, as ``name=value``)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.abuse.flood_server", kind, str(max_pending), *options,
        cwd=REPO_ROOT, stdout=asyncio.subprocess.PIPE, stdin=asyncio.subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 20)
        assert line.startswith(b"port "), line
        yield proc.pid, int(line.split()[1])
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()


@contextlib.asynccontextmanager
async def canary(
    port: int, count: int, transport: str = "websocket"
) -> AsyncIterator[asyncio.subprocess.Process]:
    """The Node canary, connected (it waits for a line on stdin to start timing)."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not on PATH")
    proc = await asyncio.create_subprocess_exec(
        node, str(CANARY), f"http://127.0.0.1:{port}", str(count), transport,
        cwd=REPO_ROOT, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        line = json.loads(await asyncio.wait_for(proc.stdout.readline(), 20))
        assert line == {"ev": "connected"}, line
        yield proc
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()


async def run_canary(proc: asyncio.subprocess.Process) -> dict[str, Any]:
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(b"go\n")
    await proc.stdin.drain()
    while True:
        line = json.loads(await asyncio.wait_for(proc.stdout.readline(), 40))
        if line["ev"] == "latencies":
            return dict(line)
        assert line["ev"] != "disconnect", line


@pytest.mark.timeout(120)
@pytest.mark.parametrize("kind", ["builtin", "uvicorn"])
async def test_flood_of_events_is_pushed_back_and_the_canary_stays_fast(kind: str) -> None:
    async with flood_server(kind) as (pid, port), canary(port, 200) as node:
        before_kb = rss_kb(pid)
        _reader, writer = await connect_websocket(port)
        flood = b"".join(frame(f'42["slow",{i},"{PADDING}"]') for i in range(EVENTS))
        writer.write(flood)  # all of it: the client's transport holds what TCP does not take
        result = await run_canary(node)
        unsent = writer.transport.get_write_buffer_size()
        after_kb = rss_kb(pid)
        writer.transport.abort()

    ms = sorted(result["ms"])
    p50, p99 = statistics.median(ms), ms[int(len(ms) * 0.99) - 1]
    handled = result["stats"]["handled"]
    grown_mb = (result["stats"]["VmHWM"] - before_kb) / 1024
    print(f"\n{kind}: canary acks p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {ms[-1]:.1f} ms; "
          f"{handled} of {EVENTS} flood events handled meanwhile, {unsent / 1e6:.1f} MB "
          f"still unsent by the attacker; server RSS {before_kb // 1024} MB before, "
          f"peak {result['stats']['VmHWM'] // 1024} MB, {after_kb // 1024} MB after")
    # The attack was on all along: the server had not read most of it.
    assert handled < EVENTS
    assert unsent > len(flood) // 2
    assert p99 < P99_BOUND_MS, ms
    assert grown_mb < RSS_GROWTH_BOUND_MB
