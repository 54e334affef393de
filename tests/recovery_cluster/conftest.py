"""Fixtures for recovery across a cluster: tidings nodes as real processes (so a test can
SIGKILL one) on the shared Redis and a shared history store, and the official client.

Each test has its own adapter key prefix and its own history (a PostgreSQL schema or a
Redis key prefix), dropped afterwards; every process it starts is ended by its PID.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import Mailbox, NodeClient
from tests.history.conftest import PG_DSN, REDIS_URL, pg_schema, redis_prefix

HERE = Path(__file__).resolve().parent
NODE_SCRIPT = HERE / "node_process.py"
CLIENT_SCRIPT = HERE / "node" / "client.mjs"

#: Seconds between heartbeats: a node silent for three of them counts as killed.
HEARTBEAT = 0.2
#: Seconds a client may be away and still recover.
MAX_AWAY = 3.0


class NodeProcess:
    """One tidings node (``node_process.py``); ``events`` holds what it printed."""

    def __init__(self, name: str, proc: asyncio.subprocess.Process) -> None:
        self.name = name
        self.proc = proc
        self.events = Mailbox(f"tidings node {name}")
        self.url = ""
        self._refs = 0
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def start(cls, name: str, cfg: dict[str, Any]) -> NodeProcess:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, str(NODE_SCRIPT), json.dumps({**cfg, "node": name}),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )
        node = cls(name, proc)
        ready = await node.events.get("ready", timeout=20)
        node.url = f"http://127.0.0.1:{ready['port']}"
        return node

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            record = json.loads(line)
            self.events.put(record.pop("ev"), **record)
        self.events.close(f"exited with {await self.proc.wait()}")

    async def command(self, op: str, timeout: float = 10.0, **fields: Any) -> None:
        self._refs += 1
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps({"op": op, "ref": self._refs, **fields}) + "\n").encode())
        await self.proc.stdin.drain()
        await self.events.get("done", timeout=timeout, ref=self._refs)

    async def emit(self, room: str, text: str) -> None:
        """``sio.to(room).emit("msg", text)`` on this node."""
        await self.command("emit", room=room, text=text)

    async def kill(self) -> None:
        """SIGKILL: no shutdown, no session saved, no heartbeat any more."""
        self.proc.send_signal(signal.SIGKILL)
        assert await self.proc.wait() == -signal.SIGKILL

    async def stop(self) -> None:
        if self.proc.returncode is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()  # the node shuts down gracefully at the end of its input
            try:
                await asyncio.wait_for(self.proc.wait(), 10)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader


class Cluster:
    """Starts nodes on one adapter prefix and one history; stops them all at the end."""

    def __init__(self, cfg: dict[str, Any]) -> None:
        self.cfg = cfg
        self.nodes: list[NodeProcess] = []

    async def start(self, *names: str) -> list[NodeProcess]:
        started = await asyncio.gather(*(NodeProcess.start(n, self.cfg) for n in names))
        self.nodes.extend(started)
        return list(started)


@pytest.fixture(params=["postgres", "redis"])
def history(request: pytest.FixtureRequest) -> str:
    """The shared history store: PostgresHistory or RedisStreamsHistory."""
    return str(request.param)


@pytest.fixture
async def cluster(history: str) -> AsyncIterator[Cluster]:
    async with AsyncExitStack() as stack:
        if history == "postgres":
            target = await stack.enter_async_context(pg_schema())
        else:
            target = await stack.enter_async_context(redis_prefix())
        bed = Cluster({
            "history": history, "target": target, "dsn": PG_DSN, "redis": REDIS_URL,
            "prefix": f"t-{secrets.token_hex(5)}", "heartbeat": HEARTBEAT, "max_away": MAX_AWAY,
        })
        try:
            yield bed
        finally:
            for node in bed.nodes:
                await node.stop()


@pytest.fixture
async def client(node_bin: str) -> AsyncIterator[NodeClient]:
    """One ``node/client.mjs`` process (it holds several sockets)."""
    started = await NodeClient.start(node_bin, CLIENT_SCRIPT)
    try:
        yield started
    finally:
        await started.close()
