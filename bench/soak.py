"""Soak: hold many connections for a long time with churn, and watch the server's lines.

A tidings server (a subprocess, uvloop) holds ``--connections`` WebSocket clients, each
in one of 100 rooms, for ``--minutes``. Beside them, ``--churn`` short-lived clients a
second each connect, join a room, emit to it (every member of the room hears it), leave
and disconnect. Every ``--interval`` seconds the server samples itself: resident memory,
open files, asyncio tasks, sessions and the loop's lag (how late a 100 ms timer fires).
A leak shows as a line that climbs; a healthy server's lines are flat once the ramp is
done. The report (``--out``): ``soak.json`` (every sample), ``soak.md`` (the table and the
verdict) and ``soak.svg`` (the four lines over time, one page).

    python -m bench.soak                                   # 10,000 connections, 10 minutes
    python -m bench.soak --connections 2000 --minutes 3 --churn 20 --out soak-out

The clients are raw WebSocket connections on one event loop in this process (they answer
pings and count what they receive), so the figures are the server's alone.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import resource
import socket
import struct
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, cast

ROOMS = 100
_LAG_TICK = 0.1


# -- the server side (run as ``python -m bench.soak --serve``) -----------------------------


def raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _rss() -> int:
    with open("/proc/self/status", "rb") as f:
        for line in f:
            if line.startswith(b"VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


async def _serve(port: int, interval: float, max_connections: int) -> None:
    import tidings
    import tidings.standalone

    sio = tidings.Server(max_connections=max_connections)

    @sio.event
    async def join(socket: Any, room: str) -> bool:
        socket.join(room)
        return True

    @sio.event
    async def leave(socket: Any, room: str) -> bool:
        socket.leave(room)
        return True

    @sio.event
    async def say(socket: Any, room: str, text: str) -> None:
        await sio.to(room).emit("said", text)

    loop = asyncio.get_running_loop()
    lags: list[float] = []

    async def lag_probe() -> None:
        while True:
            start = loop.time()
            await asyncio.sleep(_LAG_TICK)
            lags.append(loop.time() - start - _LAG_TICK)

    async def sampler() -> None:
        started = loop.time()
        while True:
            await asyncio.sleep(interval)
            window = sorted(lags)
            lags.clear()
            sample = {
                "t": round(loop.time() - started, 1),
                "rss_mb": round(_rss() / 1e6, 1),
                "files": len(os.listdir("/proc/self/fd")),
                "tasks": len(asyncio.all_tasks()),
                "sessions": len(sio.engine.sockets),
                "lag_p99_ms": round(window[int(len(window) * 0.99)] * 1000, 2) if window else 0.0,
                "lag_max_ms": round(window[-1] * 1000, 2) if window else 0.0,
            }
            print("SAMPLE " + json.dumps(sample), flush=True)

    async with tidings.standalone.serve(sio, "127.0.0.1", port):
        probe, sampling = asyncio.create_task(lag_probe()), asyncio.create_task(sampler())
        print(f"READY {port}", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until EOF
        probe.cancel()
        sampling.cancel()


# -- the clients -------------------------------------------------------------------------


def masked_frame(opcode: int, payload: bytes) -> bytes:
    mask = os.urandom(4)
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    else:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    key = int.from_bytes((mask * (n // 4 + 1))[:n], "big")
    body = (int.from_bytes(payload, "big") ^ key).to_bytes(n, "big")
    return head + mask + body


class Peer(asyncio.Protocol):
    """One raw Socket.IO client over WebSocket: answers pings, counts what it hears."""

    def __init__(self, counts: dict[str, int]) -> None:
        self.counts = counts
        self.buffer = b""
        self.upgraded = False
        self.transport: asyncio.Transport | None = None
        self.joined = asyncio.get_running_loop().create_future()
        self.closed = asyncio.get_running_loop().create_future()
        self.acks: dict[int, asyncio.Future[None]] = {}
        self.next_ack = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass
        key = base64.b64encode(os.urandom(16)).decode()
        self.transport.write(
            "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.upgraded:
            if b"\r\n\r\n" not in self.buffer:
                return
            head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
            if not head.startswith(b"HTTP/1.1 101"):
                self._fail(f"upgrade refused: {head[:60]!r}")
                return
            self.upgraded = True
        while len(self.buffer) >= 2:
            n = self.buffer[1] & 0x7F
            start = 2
            if n == 126:
                if len(self.buffer) < 4:
                    return
                n, start = struct.unpack("!H", self.buffer[2:4])[0], 4
            elif n == 127:
                if len(self.buffer) < 10:
                    return
                n, start = struct.unpack("!Q", self.buffer[2:10])[0], 10
            if len(self.buffer) < start + n:
                return
            opcode = self.buffer[0] & 0x0F
            payload, self.buffer = self.buffer[start:start + n], self.buffer[start + n:]
            if opcode == 1:
                self._packet(payload.decode())

    def _packet(self, text: str) -> None:
        if text == "2":
            self.send("3")
        elif text.startswith("0{"):
            self.send("40")
        elif text.startswith("40"):
            if not self.joined.done():
                self.joined.set_result(None)
        elif text.startswith("42"):
            self.counts["received"] += 1
        elif text.startswith("43"):
            digits = text[2:text.index("[")]
            ack = self.acks.pop(int(digits), None)
            if ack is not None and not ack.done():
                ack.set_result(None)

    def send(self, text: str) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(masked_frame(1, text.encode()))

    def ask(self, event: str, *args: Any) -> asyncio.Future[None]:
        """Emit with an ack; the future is done when the server answers."""
        self.next_ack += 1
        ack = asyncio.get_running_loop().create_future()
        self.acks[self.next_ack] = ack
        self.send(f"42{self.next_ack}" + json.dumps([event, *args]))
        return ack

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(masked_frame(8, struct.pack("!H", 1000)))
            self.transport.close()

    def _fail(self, reason: str) -> None:
        self.counts["errors"] += 1
        if not self.joined.done():
            self.joined.set_exception(ConnectionError(reason))
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.joined.done():
            self.joined.set_exception(ConnectionError(f"closed before joining: {exc!r}"))
        for ack in self.acks.values():
            if not ack.done():
                ack.set_exception(ConnectionError("closed"))
        if not self.closed.done():
            self.closed.set_result(None)


async def open_peer(port: int, counts: dict[str, int], room: str, rcvbuf: int = 0) -> Peer:
    """A joined peer; ``rcvbuf``: a small kernel receive buffer, for a peer that will stall."""
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.setblocking(False)
    await loop.sock_connect(sock, ("127.0.0.1", port))
    _, peer = await loop.create_connection(lambda: Peer(counts), sock=sock)
    await asyncio.wait_for(peer.joined, 30)
    await asyncio.wait_for(peer.ask("join", room), 30)
    return peer


async def _churn_one(port: int, counts: dict[str, int]) -> None:
    """connect, join, emit, leave, disconnect."""
    room = f"r{random.randrange(ROOMS)}"
    try:
        peer = await open_peer(port, counts, room)
        peer.send("42" + json.dumps(["say", room, "hello"]))
        await asyncio.wait_for(peer.ask("leave", room), 30)
        peer.close()
        await asyncio.wait_for(peer.closed, 30)
        counts["cycles"] += 1
    except (ConnectionError, TimeoutError, OSError):
        counts["errors"] += 1


@dataclass
class Verdict:
    flat: bool
    rss_growth_mb: float
    files_change: int
    tasks_change: int
    worst_lag_ms: float


def _judge(samples: list[dict[str, Any]], connections: int) -> Verdict:
    """After the ramp: the first steady sample against the last."""
    steady = [s for s in samples if s["sessions"] >= connections * 0.99] or samples
    first, last = steady[0], steady[-1]
    rss = last["rss_mb"] - first["rss_mb"]
    files = last["files"] - first["files"]
    tasks = last["tasks"] - first["tasks"]
    lag = max(s["lag_max_ms"] for s in steady)
    # Bounds: memory within 10% (allocator noise), files and tasks within the churn in flight.
    flat = rss <= first["rss_mb"] * 0.10 and abs(files) <= 200 and abs(tasks) <= 200
    return Verdict(flat, round(rss, 1), files, tasks, lag)


def _svg(samples: list[dict[str, Any]]) -> str:
    panels = [("rss_mb", "resident memory (MB)"), ("files", "open files"),
              ("tasks", "asyncio tasks"), ("lag_max_ms", "loop lag, worst (ms)")]
    width, height, pad = 900, 220, 40
    parts = [(f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" '
             f'height="{height * len(panels)}" font-family="sans-serif" font-size="12">')]
    t_max = max(s["t"] for s in samples) or 1.0
    for i, (key, title) in enumerate(panels):
        top = i * height
        values = [float(s[key]) for s in samples]
        v_max = max(values) * 1.1 or 1.0
        points = " ".join(
            f'{pad + (s["t"] / t_max) * (width - 2 * pad):.1f},'
            f'{top + height - pad - (float(s[key]) / v_max) * (height - 2 * pad):.1f}'
            for s in samples
        )
        parts += [
            f'<text x="{pad}" y="{top + 20}">{title}: {values[0]:g} … {values[-1]:g}</text>',
            (f'<line x1="{pad}" y1="{top + height - pad}" x2="{width - pad}" '
            f'y2="{top + height - pad}" stroke="#888"/>'),
            (f'<text x="{width - pad}" y="{top + height - pad + 15}" text-anchor="end">'
            f'{t_max:g} s</text>'),
            f'<text x="{pad - 5}" y="{top + pad}" text-anchor="end">{v_max:g}</text>',
            f'<polyline fill="none" stroke="#1f6feb" stroke-width="2" points="{points}"/>',
        ]
    parts.append("</svg>")
    return "\n".join(parts)


def _markdown(ns: argparse.Namespace, samples: list[dict[str, Any]], counts: dict[str, int],
              verdict: Verdict) -> str:
    lines = [
        f"# Soak: {ns.connections:,} connections, {ns.minutes:g} min, churn {ns.churn:g}/s",
        "",
        (f"Churn cycles completed: {counts['cycles']:,}; events received by clients: "
        f"{counts['received']:,}; client errors: {counts['errors']:,}."),
        "",
        (f"Verdict: **{'flat' if verdict.flat else 'NOT FLAT'}** (after the ramp: memory "
        f"{verdict.rss_growth_mb:+g} MB, open files {verdict.files_change:+d}, tasks "
        f"{verdict.tasks_change:+d}; worst loop lag {verdict.worst_lag_ms:g} ms)."),
        "",
        "| t (s) | RSS (MB) | open files | tasks | sessions | lag p99 (ms) | lag max (ms) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    lines += [f"| {s['t']:g} | {s['rss_mb']:g} | {s['files']} | {s['tasks']} | {s['sessions']} "
              f"| {s['lag_p99_ms']:g} | {s['lag_max_ms']:g} |" for s in samples]
    return "\n".join(lines) + "\n"


async def _drive(ns: argparse.Namespace) -> int:
    raise_nofile()
    port = ns.port
    server = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.soak", "--serve", "--port", str(port),
        "--interval", str(ns.interval), "--max-connections", str(ns.connections + 2000),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
    )
    assert server.stdin is not None and server.stdout is not None
    line = await asyncio.wait_for(server.stdout.readline(), 30)
    if not line.startswith(b"READY"):
        raise SystemExit(f"server did not start: {line!r}")
    samples: list[dict[str, Any]] = []

    async def read_samples() -> None:
        assert server.stdout is not None
        while raw := await server.stdout.readline():
            if raw.startswith(b"SAMPLE "):
                sample = json.loads(raw[7:])
                samples.append(sample)
                print(f"  t={sample['t']:>6}s  rss {sample['rss_mb']:>7} MB  files "
                      f"{sample['files']:>6}  tasks {sample['tasks']:>6}  sessions "
                      f"{sample['sessions']:>6}  lag max {sample['lag_max_ms']} ms", flush=True)

    reading = asyncio.create_task(read_samples())
    counts = {"received": 0, "errors": 0, "cycles": 0}
    held: list[Peer] = []
    print(f"ramp: {ns.connections:,} connections", flush=True)
    for start in range(0, ns.connections, 200):
        batch = range(start, min(start + 200, ns.connections))
        held += await asyncio.gather(*(open_peer(port, counts, f"r{i % ROOMS}") for i in batch))
    print(f"held {len(held):,}; churn {ns.churn:g}/s for {ns.minutes:g} min", flush=True)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + ns.minutes * 60
    cycles: set[asyncio.Task[None]] = set()
    tick = 1.0 / ns.churn
    next_at = loop.time()
    while loop.time() < deadline:
        task = asyncio.create_task(_churn_one(port, counts))
        cycles.add(task)
        task.add_done_callback(cycles.discard)
        next_at += tick
        await asyncio.sleep(max(0.0, next_at - loop.time()))
    if cycles:
        await asyncio.wait(cycles, timeout=30)
    for peer in held:
        peer.close()
    server.stdin.close()
    await asyncio.wait_for(server.wait(), 60)
    await reading
    verdict = _judge(samples, ns.connections) if samples else Verdict(False, 0, 0, 0, 0)
    out = Path(ns.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "soak.json").write_text(json.dumps(
        {"options": vars(ns), "counts": counts, "verdict": asdict(verdict), "samples": samples},
        indent=1))
    (out / "soak.md").write_text(_markdown(ns, samples, counts, verdict))
    if samples:
        (out / "soak.svg").write_text(_svg(samples))
    print(f"{'flat' if verdict.flat else 'NOT FLAT'}: {asdict(verdict)}; report in {out}/")
    return 0 if verdict.flat and counts["errors"] == 0 else 1


def runner() -> Any:
    """``uvloop.run`` when uvloop is installed, else ``asyncio.run``."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run
    return uvloop.run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--churn", type=float, default=20.0, help="short-lived clients a second")
    parser.add_argument("--interval", type=float, default=60.0, help="seconds between samples")
    parser.add_argument("--port", type=int, default=3917)
    parser.add_argument("--out", default="test-artifacts/soak")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--max-connections", type=int, default=12_000, help=argparse.SUPPRESS)
    ns = parser.parse_args()
    run = runner()
    if ns.serve:
        raise_nofile()
        run(_serve(ns.port, ns.interval, ns.max_connections))
        return
    started = time.monotonic()
    code = run(_drive(ns))
    print(f"took {time.monotonic() - started:.0f} s")
    raise SystemExit(code)


if __name__ == "__main__":
    main()
