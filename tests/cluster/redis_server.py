"""Talking to Redis without a client library, and a ``redis-server`` of the test's own."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

REDIS_HOST = "127.0.0.1"


def redis_command(port: int, *words: str, timeout: float = 2.0) -> bytes:
    """One RESP command to the Redis on 127.0.0.1:``port``; returns the raw reply line."""
    request = f"*{len(words)}\r\n".encode() + b"".join(
        f"${len(w.encode())}\r\n{w}\r\n".encode() for w in words
    )
    with socket.create_connection((REDIS_HOST, port), timeout=timeout) as conn:
        conn.sendall(request)
        return conn.recv(65536)


def free_port() -> int:
    with socket.socket() as s:
        s.bind((REDIS_HOST, 0))
        return int(s.getsockname()[1])


class PrivateRedis:
    """A ``redis-server`` of the test's own, on a free port, without persistence."""

    def __init__(self, binary: str, port: int, workdir: Path) -> None:
        self.binary = binary
        self.port = port
        self.workdir = workdir
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"redis://{REDIS_HOST}:{self.port}/0"

    async def start(self) -> None:
        """Start it (again, on the same port) and wait until it answers PING."""
        assert self.proc is None, "already running"
        self.proc = await asyncio.create_subprocess_exec(
            self.binary,
            "--port", str(self.port),
            "--bind", REDIS_HOST,
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self.workdir),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while True:
            try:
                if redis_command(self.port, "PING", timeout=0.5).startswith(b"+PONG"):
                    return
            except OSError:
                pass
            if self.proc.returncode is not None or loop.time() > deadline:
                raise AssertionError(f"redis-server on port {self.port} did not come up")
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        """Kill it (by its PID): clients see their connections drop, as in a crash."""
        if self.proc is not None:
            if self.proc.returncode is None:
                self.proc.kill()
            await self.proc.wait()
            self.proc = None

    async def restart(self) -> None:
        await self.stop()
        await self.start()


