"""``tidings serve workers_app:sio --workers N`` as a real subprocess, for the tests.

Its log lines are read as they come, so a test can await one (the port it listens on,
a restart) without sleeping; at the end the supervisor is stopped and every process it
started is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
LISTENING = re.compile(r"listening on http://127\.0\.0\.1:(\d+) with (\d+) workers")


def alive(pid: int) -> bool:
    """Whether process ``pid`` exists (and is not a zombie of ours)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with contextlib.suppress(OSError):
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    return True


class Supervised:
    """One supervisor process and the lines it logged."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[str] = []
        self._changed = asyncio.Event()
        self._reader = asyncio.create_task(self._read())
        self.url = ""

    @classmethod
    async def start(cls, *options: str, app: str = "workers_app:sio") -> Supervised:
        """``tidings serve APP --port 0 OPTIONS``."""
        return await cls.run("-m", "tidings", "serve", app, "--port", "0", *options)

    @classmethod
    async def run(cls, *args: str) -> Supervised:
        """``python ARGS``, which logs like ``tidings serve`` does."""
        proc = await asyncio.create_subprocess_exec(
            sys.executable, *args,
            cwd=HERE,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        supervised = cls(proc)
        found = await supervised.wait_for(LISTENING, timeout=20)
        supervised.url = f"http://127.0.0.1:{found.group(1)}"
        return supervised

    async def _read(self) -> None:
        assert self.proc.stderr is not None
        while line := await self.proc.stderr.readline():
            self.lines.append(line.decode(errors="replace").rstrip())
            self._changed.set()
        self._changed.set()

    async def wait_for(self, pattern: re.Pattern[str], timeout: float = 10, start: int = 0) -> re.Match[str]:
        """The first line from ``start`` on that matches ``pattern``, waiting for it."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for line in self.lines[start:]:
                found = pattern.search(line)
                if found:
                    return found
            if self._reader.done():
                raise AssertionError(f"no {pattern.pattern!r}: the supervisor ended;\n" + "\n".join(self.lines))
            self._changed.clear()
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(f"no {pattern.pattern!r} in {timeout}s;\n" + "\n".join(self.lines))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)

    async def stop(self, timeout: float = 20) -> int:
        """SIGTERM, and the exit status once it has drained."""
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.proc.wait(), timeout)
        finally:
            if self.proc.returncode is None:
                self.proc.kill()
                await self.proc.wait()
            await self._reader
        return self.proc.returncode
