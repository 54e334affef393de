"""Nodes in processes of their own (``serve_node``), started and ended by the tests."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
_LISTENING = re.compile(rb"listening on http://127\.0\.0\.1:(\d+)")


class NodeProcess:
    def __init__(self, owner: str, proc: asyncio.subprocess.Process) -> None:
        self.owner = owner
        self.proc = proc
        self.port = 0
        self.log: list[bytes] = []
        self._reader: asyncio.Task[None] | None = None

    @classmethod
    async def start(cls, owner: str, *args: str) -> NodeProcess:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.handoff.serve_node",
            owner,
            *args,
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        node = cls(owner, proc)
        listening: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        node._reader = asyncio.create_task(node._read(listening))
        try:
            node.port = await asyncio.wait_for(listening, 15)
        except BaseException:
            await node.stop()
            raise
        return node

    async def _read(self, listening: asyncio.Future[int]) -> None:
        assert self.proc.stderr is not None
        while line := await self.proc.stderr.readline():
            self.log.append(line)
            match = _LISTENING.search(line)
            if match and not listening.done():
                listening.set_result(int(match.group(1)))
        if not listening.done():
            listening.set_exception(
                AssertionError(f"{self.owner} exited: {b''.join(self.log).decode()}")
            )

    def lines(self, needle: str) -> list[str]:
        return [x.decode() for x in self.log if needle.encode() in x]

    def kill(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()

    async def stop(self) -> None:
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), 10)
            except TimeoutError:
                self.proc.kill()
        await self.proc.wait()
        if self._reader is not None:
            with contextlib.suppress(BaseException):
                await self._reader


@contextlib.asynccontextmanager
async def node_processes(owners: list[str], *args: str) -> AsyncIterator[list[NodeProcess]]:
    """Nodes ``owners``; every second one on asyncio's own loop, the others on uvloop."""
    starting = [
        asyncio.ensure_future(NodeProcess.start(owner, *args, *(["--plain-loop"] if i % 2 else [])))
        for i, owner in enumerate(owners)
    ]
    await asyncio.wait(starting)
    started = [task.result() for task in starting if task.exception() is None]
    try:
        for task in starting:
            if task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
        yield started
    finally:
        await asyncio.gather(*(node.stop() for node in started))
