"""Python memory per idle WebSocket on the built-in server (a script, not a test).

    python -m tests.standalone.measure_idle_memory [N]

The server runs in this process under tracemalloc; N clients connect from a
child process, upgrade, and stay idle. The engine side is a shared do-nothing
listener, so the figure is the I/O layer's own cost: protocol object,
ServerConnection, asyncio/uvloop transport and loop registration.
"""

from __future__ import annotations

import asyncio
import gc
import resource
import sys
import tracemalloc
from dataclasses import dataclass

import uvloop

from tidings.engine.io import HttpRequest, HttpResponse, WebSocketListener, WebSocketTransport
from tidings.standalone import serve

CLIENT = r"""
import base64, os, socket, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
socks = []
for i in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall(("GET /engine.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\n"
               "Upgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    data = b""
    while b"\r\n\r\n" not in data:
        data += s.recv(4096)
    assert data.startswith(b"HTTP/1.1 101"), data
    socks.append(s)
print("ready", flush=True)
sys.stdin.readline()
"""


@dataclass(frozen=True)
class _Options:
    max_payload: int = 1_000_000


class _Idle:
    __slots__ = ()

    def on_message(self, data: str | bytes) -> None:
        pass

    def on_close(self, code: int, reason: str) -> None:
        pass


_IDLE = _Idle()


class _Engine:
    options = _Options()

    def matches(self, path: str) -> bool:
        return path.startswith("/engine.io/")

    async def handle_http(self, request: HttpRequest) -> HttpResponse:
        return HttpResponse(404)

    def check_websocket(self, request: HttpRequest) -> HttpResponse | None:
        return None

    def open_websocket(
        self, request: HttpRequest, transport: WebSocketTransport
    ) -> WebSocketListener:
        return _IDLE


async def _connect(port: int, n: int) -> asyncio.subprocess.Process:
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CLIENT,
        str(port),
        str(n),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert child.stdout is not None
    line = await child.stdout.readline()
    assert line.strip() == b"ready", line
    return child


async def measure(n: int) -> tuple[float, int]:
    async with serve(_Engine(), "127.0.0.1", 0) as server:
        warm = await _connect(server.port, 20)  # warm caches and free lists
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.take_snapshot()
        child = await _connect(server.port, n)
        await asyncio.sleep(0.2)  # let the last upgrades settle
        gc.collect()
        after = tracemalloc.take_snapshot()
        tracemalloc.stop()
        stats = after.compare_to(before, "filename")
        total = sum(s.size_diff for s in stats)
        count = server.connection_count
        for proc in (warm, child):
            assert proc.stdin is not None
            proc.stdin.write(b"\n")
            await proc.wait()
        top = after.compare_to(before, "lineno")[:8]
        for stat in top:
            print("   ", stat)
        return total / n, count


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 4 * n + 256)), hard))
    for name, factory in (("asyncio", asyncio.new_event_loop), ("uvloop", uvloop.new_event_loop)):
        with asyncio.Runner(loop_factory=factory) as runner:
            per_conn, count = runner.run(measure(n))
        print(f"{name}: {per_conn:.0f} bytes of Python objects per idle WebSocket ({count} open)")


if __name__ == "__main__":
    main()
