"""Abuse: what healthy clients feel while others flood and stall.

A tidings server (a subprocess, uvloop, default limits) broadcasts to ``--clients``
healthy WebSocket clients in one room, ``--rate`` messages a second, each carrying the
time it was sent. The run has two phases of ``--seconds`` each: first the healthy
clients alone, then beside ``--flooders`` clients that send events as fast as TCP lets
them, and ``--stallers`` clients that join the room and never read. For each phase: the
deliveries a second the healthy clients got, and their latency (p50, p99) from the
publish to the delivery. The server's limits are what keep the two phases alike: a
flooder's connection stops being read when its pending events are full, and a staller is
cut off when its buffer passes the limit.

    python -m bench.abuse                                      # 1,000 clients, 10 + 10 abusers
    python -m bench.abuse --clients 500 --seconds 10 --json
    python -m bench.abuse --limit 100        # with Server(rate_limit=RateLimit(100))
    python -m bench.abuse --pad 2000 --max-buffered 1000000 --slow-consumer drop
                                             # stallers fill their buffers: the policy acts

The healthy clients are raw connections on one event loop in this process
(``bench.soak.Peer``); the abusers run in a process of their own.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any

from bench.soak import Peer, masked_frame, open_peer, raise_nofile, runner

ROOM = "all"


async def _serve(port: int, limit: float | None, policy: str, max_buffered: int, pad: int) -> None:
    import tidings
    import tidings.standalone

    rule = tidings.RateLimit(packets_per_second=limit) if limit else None
    sio = tidings.Server(max_connections=20_000, rate_limit=rule, slow_consumer=policy,  # type: ignore[arg-type]
                         max_buffered_bytes=max_buffered)
    padding = "x" * pad

    @sio.event
    async def join(socket: Any, room: str) -> bool:
        socket.join(room)
        return True

    @sio.event
    async def publish(socket: Any, sent: float) -> None:
        if padding:
            await sio.to(ROOM).emit("pub", sent, padding)
        else:
            await sio.to(ROOM).emit("pub", sent)

    @sio.event
    async def spam(socket: Any, payload: str) -> int:
        await asyncio.sleep(0)  # a handler that awaits, as real ones do
        return len(payload)

    async with tidings.standalone.serve(sio, "127.0.0.1", port):
        print(f"READY {port}", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until EOF
    print(json.dumps(asdict(sio.slow_consumers)), flush=True)


class Listener(Peer):
    """A healthy client: records the latency of every ``pub`` it gets."""

    def __init__(self, counts: dict[str, int], latencies: list[float]) -> None:
        super().__init__(counts)
        self.latencies = latencies

    def _packet(self, text: str) -> None:
        if text.startswith('42["pub",'):
            end = text.find(",", 9)  # a padded one has a second argument
            self.latencies.append(time.monotonic() - float(text[9:end if end > 0 else -1]))
            return
        super()._packet(text)


class Flooder(Peer):
    """Sends ``spam`` events as fast as the connection takes them, until told to stop."""

    frame = masked_frame(1, ('42["spam","' + "x" * 200 + '"]').encode())

    def __init__(self, counts: dict[str, int]) -> None:
        super().__init__(counts)
        self.paused = False
        self.running = True

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        self.pump()

    def pump(self) -> None:
        self.paused = False
        transport = self.transport
        while self.running and not self.paused and transport is not None \
                and not transport.is_closing():
            transport.write(self.frame * 64)
            self.counts["flooded"] += 64


@dataclass(frozen=True, slots=True)
class Phase:
    name: str
    deliveries_per_s: float
    expected_per_s: float
    p50_ms: float
    p99_ms: float
    stallers_cut_off: int = 0
    flooded_events: int = 0


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000, 2) if ordered else 0.0


async def _publish(publisher: Peer, rate: float, seconds: float) -> None:
    loop = asyncio.get_running_loop()
    tick, next_at = 1.0 / rate, loop.time()
    deadline = next_at + seconds
    while next_at < deadline:
        publisher.send("42" + json.dumps(["publish", time.monotonic()]))
        next_at += tick
        await asyncio.sleep(max(0.0, next_at - loop.time()))


async def _abuse(port: int, flooders: int, stallers: int) -> None:
    """The abusers, in a process of their own so that their work does not slow the
    healthy clients' loop: flood and stall until stdin closes."""
    counts = {"received": 0, "errors": 0, "cycles": 0, "flooded": 0}
    loop = asyncio.get_running_loop()
    stalled: list[Peer] = []
    flooding: list[Flooder] = []
    for _ in range(stallers):
        staller = await open_peer(port, counts, ROOM, rcvbuf=4096)  # little held on its side
        assert staller.transport is not None
        staller.transport.pause_reading()  # joined, and never reads again
        stalled.append(staller)
    for _ in range(flooders):
        _, flooder = await loop.create_connection(lambda: Flooder(counts), "127.0.0.1", port)
        await asyncio.wait_for(flooder.joined, 30)
        flooding.append(flooder)
    for flooder in flooding:
        flooder.pump()
    print("ABUSING", flush=True)
    await loop.run_in_executor(None, sys.stdin.read)  # until EOF
    for flooder in flooding:
        flooder.running = False
    cut_off = sum(1 for s in stalled if s.closed.done())
    print(json.dumps({"flooded": counts["flooded"], "cut_off": cut_off}), flush=True)


async def _phase(name: str, ns: argparse.Namespace, publisher: Peer, latencies: list[float],
                 abusers: bool) -> Phase:
    latencies.clear()
    loop = asyncio.get_running_loop()
    abuse = None
    if abusers:
        abuse = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.abuse", "--abuse", "--port", str(ns.port),
            "--flooders", str(ns.flooders), "--stallers", str(ns.stallers),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        )
        assert abuse.stdout is not None
        line = await asyncio.wait_for(abuse.stdout.readline(), 60)
        if line != b"ABUSING\n":
            raise SystemExit(f"abusers did not start: {line!r}")
    started = loop.time()
    await _publish(publisher, ns.rate, ns.seconds)
    await asyncio.sleep(0.5)  # the last publish's deliveries are on their way
    elapsed = loop.time() - started
    report = {"flooded": 0, "cut_off": 0}
    if abuse is not None:
        assert abuse.stdin is not None and abuse.stdout is not None
        abuse.stdin.close()
        report = json.loads(await asyncio.wait_for(abuse.stdout.readline(), 30))
        await asyncio.wait_for(abuse.wait(), 30)
    return Phase(
        name=name,
        deliveries_per_s=round(len(latencies) / elapsed, 1),
        expected_per_s=round(ns.rate * ns.clients * ns.seconds / elapsed, 1),
        p50_ms=_percentile(latencies, 0.50),
        p99_ms=_percentile(latencies, 0.99),
        stallers_cut_off=report["cut_off"],
        flooded_events=report["flooded"],
    )


async def _drive(ns: argparse.Namespace) -> list[Phase]:
    raise_nofile()
    server = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.abuse", "--serve", "--port", str(ns.port),
        *(["--limit", str(ns.limit)] if ns.limit else []),
        "--slow-consumer", ns.slow_consumer, "--max-buffered", str(ns.max_buffered),
        "--pad", str(ns.pad),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
    )
    assert server.stdin is not None and server.stdout is not None
    line = await asyncio.wait_for(server.stdout.readline(), 30)
    if not line.startswith(b"READY"):
        raise SystemExit(f"server did not start: {line!r}")
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    counts = {"received": 0, "errors": 0, "cycles": 0}
    listeners: list[Peer] = []

    async def listen() -> Peer:
        _, peer = await loop.create_connection(lambda: Listener(counts, latencies),
                                               "127.0.0.1", ns.port)
        await asyncio.wait_for(peer.joined, 30)
        await asyncio.wait_for(peer.ask("join", ROOM), 30)
        return peer

    try:
        for start in range(0, ns.clients, 200):
            listeners += await asyncio.gather(*(listen() for _ in range(min(200, ns.clients - start))))
        publisher = await open_peer(ns.port, counts, "publishers")
        phases = [await _phase("healthy alone", ns, publisher, latencies, abusers=False),
                  await _phase("beside abusers", ns, publisher, latencies, abusers=True)]
    finally:
        for peer in listeners:
            peer.close()
        server.stdin.close()
        did = await asyncio.wait_for(server.stdout.readline(), 30)
        await asyncio.wait_for(server.wait(), 30)
    if did:
        print(f"slow-consumer policy {ns.slow_consumer!r}: {did.decode().strip()}", file=sys.stderr)
    return phases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=20.0, help="broadcasts a second")
    parser.add_argument("--seconds", type=float, default=15.0, help="length of each phase")
    parser.add_argument("--flooders", type=int, default=10)
    parser.add_argument("--stallers", type=int, default=10)
    parser.add_argument("--limit", type=float, metavar="PPS",
                        help="the server's rate limit: packets a second per connection "
                             "(tidings.RateLimit, dropping past it); default: none")
    parser.add_argument("--slow-consumer", default="disconnect", choices=["disconnect", "drop", "conflate"],
                        help="the server's slow_consumer policy (default: disconnect)")
    parser.add_argument("--max-buffered", type=int, default=10_000_000, metavar="BYTES",
                        help="the server's max_buffered_bytes (default: 10,000,000)")
    parser.add_argument("--pad", type=int, default=0, metavar="BYTES",
                        help="padding added to each broadcast, so that stallers fill up sooner")
    parser.add_argument("--port", type=int, default=3919)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--abuse", action="store_true", help=argparse.SUPPRESS)
    ns = parser.parse_args()
    run = runner()
    if ns.serve:
        raise_nofile()
        run(_serve(ns.port, ns.limit, ns.slow_consumer, ns.max_buffered, ns.pad))
        return
    if ns.abuse:
        run(_abuse(ns.port, ns.flooders, ns.stallers))
        return
    phases = run(_drive(ns))
    if ns.json:
        print(json.dumps([asdict(p) for p in phases], indent=1))
        return
    limit = f"rate limit {ns.limit:g} packets/s" if ns.limit else "no rate limit"
    print(f"{ns.clients:,} healthy clients, {ns.rate:g} broadcasts/s, {ns.seconds:g} s a phase; "
          f"abusers: {ns.flooders} flooding, {ns.stallers} stalled; {limit}")
    print("| phase | deliveries/s (expected) | p50 ms | p99 ms | stallers cut off | flooded events |")
    print("| --- | --- | --- | --- | --- | --- |")
    for p in phases:
        print(f"| {p.name} | {p.deliveries_per_s:,.0f} ({p.expected_per_s:,.0f}) | {p.p50_ms} "
              f"| {p.p99_ms} | {p.stallers_cut_off} | {p.flooded_events:,} |")
    alone, beside = phases
    if alone.deliveries_per_s:
        print(f"beside abusers / alone: deliveries {beside.deliveries_per_s / alone.deliveries_per_s:.2f}, "
              f"p99 {beside.p99_ms / alone.p99_ms if alone.p99_ms else float('nan'):.2f}x")


if __name__ == "__main__":
    main()
