"""What permessage-deflate costs a fan-out, per delivery: ``python -m bench.deflate``.

The benchmark app (``servers/tidings_app.py --deflate``) is driven by raw WebSocket
clients written here (asyncio, no Engine.IO library), so the extension offer is ours
to choose. Three modes, each on a fresh server pinned to the server core:

- ``off``: no offer (the hot path of ``bench/run``'s fan-out: the same frames for all);
- ``shared``: every client offers ``server_no_context_takeover``, so a broadcast is
  compressed once and the compressed frames are shared;
- ``takeover``: a plain offer (what browsers and ``ws`` send by default): each
  connection keeps its own deflate stream, so each delivery is compressed again.

N receivers join a room; a publisher (not in it) publishes a ~2 KB JSON-like payload,
one publish in flight. Receivers count frames without inflating them. Reported: deliveries/s,
server CPU µs per delivery (``/proc/<pid>/task/*/schedstat``), wire bytes per delivery.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bench import procs

MODES = {
    "off": None,
    "shared": "permessage-deflate; server_no_context_takeover; client_max_window_bits",
    "takeover": "permessage-deflate; client_max_window_bits",
}


def payload(size: int, seed: int) -> str:
    """A JSON-ish chat backlog of about ``size`` bytes, different for every ``seed``: what
    real payloads compress like (a repeated payload would flatter context takeover)."""
    items: list[str] = []
    total = 0
    i = seed * 1000
    while total < size - 80:
        item = json.dumps({"id": i, "user": f"user{i % 37}", "text": f"message number {i * 7919 % 10007}",
                           "ts": 1764770000 + i * 7})
        items.append(item)
        total += len(item) + 1
        i += 1
    return "[" + ",".join(items) + "]"


def client_frame(text: str) -> bytes:
    """A masked text frame; the zero mask key is valid and costs the server the same unmasking."""
    data = text.encode()
    n = len(data)
    if n < 126:
        head = bytes((0x81, 0x80 | n))
    elif n < 65536:
        head = bytes((0x81, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x81, 0x80 | 127)) + n.to_bytes(8, "big")
    return head + b"\x00\x00\x00\x00" + data


class Tally:
    """Deliveries so far, and a future for when they reach ``target``."""

    def __init__(self) -> None:
        self.count = 0
        self.wire = 0
        self.target = 0
        self.reached: asyncio.Future[None] | None = None

    def add(self, size: int) -> None:
        self.count += 1
        self.wire += size
        if self.count >= self.target and self.reached is not None and not self.reached.done():
            self.reached.set_result(None)


class Peer(asyncio.Protocol):
    """One raw client: upgrade, Engine.IO open, CONNECT, then frames counted, pings answered."""

    def __init__(self, offer: str | None, joined: asyncio.Future[None], room: str | None,
                 tally: Tally) -> None:
        self.offer = offer
        self.joined = joined
        self.room = room
        self.tally = tally
        self.buf = b""
        self.upgraded = False
        self.state = 0  # 0 open packet, 1 connect reply, 2 join ack, 3 counting
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        key = base64.b64encode(os.urandom(16)).decode()
        ext = f"Sec-WebSocket-Extensions: {self.offer}\r\n" if self.offer else ""
        transport.write(
            (f"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1\r\n"
             f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
             f"Sec-WebSocket-Version: 13\r\n{ext}\r\n").encode()
        )

    def send(self, text: str) -> None:
        assert self.transport is not None
        self.transport.write(client_frame(text))

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data
        if not self.upgraded:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                self.buf = buf
                return
            head = buf[:end].decode("latin-1").lower()
            if self.offer and "permessage-deflate" not in head and not self.joined.done():
                self.joined.set_exception(RuntimeError("the server did not accept the offer"))
            self.upgraded = True
            buf = buf[end + 4 :]
        pos = 0
        n = len(buf)
        while n - pos >= 2:
            b1 = buf[pos + 1] & 0x7F
            off = 2
            if b1 == 126:
                if n - pos < 4:
                    break
                b1 = int.from_bytes(buf[pos + 2 : pos + 4], "big")
                off = 4
            elif b1 == 127:
                if n - pos < 10:
                    break
                b1 = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                off = 10
            if n - pos < off + b1:
                break
            body = buf[pos + off : pos + off + b1]
            pos += off + b1
            self.frame(body, off + b1)
        self.buf = buf[pos:]

    def frame(self, body: bytes, size: int) -> None:
        if self.state == 3:
            if body == b"2":
                self.send("3")
                return
            self.tally.add(size)
            return
        if body == b"2":
            self.send("3")
        elif self.state == 0:
            self.state = 1
            self.send("40")
        elif self.state == 1:
            if self.room is None:
                self.state = 3
                self.joined.set_result(None)
            else:
                self.state = 2
                self.send(f'420["join","{self.room}"]')
        elif self.state == 2:
            self.state = 3
            self.joined.set_result(None)


def receiver(offer: str | None, joined: asyncio.Future[None], tally: Tally) -> Callable[[], Peer]:
    return lambda: Peer(offer, joined, "room", tally)


async def run_mode(mode: str, n: int, publishes: int, size: int, cpus: frozenset[int]) -> dict[str, float]:
    port = procs.free_port()
    argv = [sys.executable, "-m", "bench.servers.tidings_app", "--port", str(port)]
    if mode != "off":
        argv.append("--deflate")
    server = procs.start(argv, cpus, stdout=subprocess.DEVNULL)
    try:
        procs.wait_listening(port, server)
        loop = asyncio.get_running_loop()
        tally = Tally()
        for start in range(0, n, 100):
            batch = []
            for _ in range(start, min(n, start + 100)):
                joined: asyncio.Future[None] = loop.create_future()
                await loop.create_connection(
                    receiver(MODES[mode], joined, tally), "127.0.0.1", port
                )
                batch.append(joined)
            await asyncio.gather(*batch)
        ready: asyncio.Future[None] = loop.create_future()
        _, publisher = await loop.create_connection(
            lambda: Peer(MODES[mode], ready, None, Tally()), "127.0.0.1", port
        )
        await ready
        messages = [f'42["publish","room",{json.dumps(payload(size, k))}]' for k in range(publishes)]
        cpu0, t0 = server_cpu(server.pid), time.perf_counter()
        for k in range(1, publishes + 1):
            tally.target = k * n
            tally.reached = loop.create_future()
            publisher.send(messages[k - 1])
            await asyncio.wait_for(tally.reached, 30)
        elapsed = time.perf_counter() - t0
        cpu = server_cpu(server.pid) - cpu0
        deliveries = publishes * n
        return {
            "deliveries_per_s": deliveries / elapsed,
            "server_cpu_us_per_delivery": cpu / deliveries * 1e6,
            "wire_bytes_per_delivery": tally.wire / deliveries,
            "payload_bytes": len(messages[0]) - len('42["publish","room",]') + len('42["pub",]'),
        }
    finally:
        procs.stop(server)


def server_cpu(pid: int) -> float:
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (OSError, ValueError):
            pass
    return total / 1e9


async def main_async(ns: argparse.Namespace) -> dict[str, list[dict[str, float]]]:
    server_cpus, loadgen_cpus = procs.cores()
    os.sched_setaffinity(0, loadgen_cpus)
    results: dict[str, list[dict[str, float]]] = {m: [] for m in ns.modes}
    for r in range(ns.rounds):
        for mode in ns.modes:
            result = await run_mode(mode, ns.n, ns.publishes, ns.size, server_cpus)
            results[mode].append(result)
            print(f"round {r + 1} {mode:9s} " + "  ".join(f"{k} {v:,.2f}" for k, v in result.items()),
                  file=sys.stderr)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="receivers in the room")
    parser.add_argument("--publishes", type=int, default=100)
    parser.add_argument("--size", type=int, default=2048, help="payload size in bytes")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--modes", default="off,shared,takeover")
    ns = parser.parse_args()
    ns.modes = ns.modes.split(",")
    procs.raise_nofile()
    with procs.stopping_all():
        results = asyncio.run(main_async(ns))
    print(f"{'mode':9s} {'deliveries/s':>14s} {'CPU µs/delivery':>16s} {'wire B/delivery':>16s}")
    for mode, rounds in results.items():
        med = {k: sorted(r[k] for r in rounds)[len(rounds) // 2] for k in rounds[0]}
        print(f"{mode:9s} {med['deliveries_per_s']:14,.0f} {med['server_cpu_us_per_delivery']:16.2f}"
              f" {med['wire_bytes_per_delivery']:16.0f}")


if __name__ == "__main__":
    main()
