"""What permessage-deflate costs a fan-out, per delivery: ``python -m bench.deflate``.

The benchmark app, on tidings (``servers/tidings_app.py --deflate``) and on Node socket.io
(``servers/node_app.cjs --deflate``: ``ws``'s ``perMessageDeflate``, threshold 1024 bytes,
as tidings' default), is driven by raw WebSocket clients written here (asyncio, no
Engine.IO library), so the extension offer is ours to choose. Three modes, each on a fresh
server pinned to the server core (both servers on the same one), without ``--deflate`` for
``off``:

- ``off``: no offer (the hot path of ``bench/run``'s fan-out: the same frames for all);
- ``shared``: every client offers ``server_no_context_takeover``, so tidings compresses a
  broadcast once and shares the compressed frames (``ws`` accepts the offer but still
  compresses once per connection, resetting its stream after each message);
- ``takeover``: a plain offer (what browsers and ``ws`` send by default): each
  connection keeps its own deflate stream, so each delivery is compressed again.

N receivers join a room; a publisher (not in it) publishes a ~2 KB JSON-like payload,
one publish in flight, after a few warm-up publishes that are not measured. Receivers count
frames without inflating them. Reported per server and mode: deliveries/s, server CPU µs
per delivery (``/proc/<pid>/task/*/schedstat``: every thread, so Node's zlib pool too),
wire bytes per delivery; with both servers, the ratios tidings/node (``--servers``).
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
from typing import cast

from bench import procs

MODES = {
    "off": None,
    "shared": "permessage-deflate; server_no_context_takeover; client_max_window_bits",
    "takeover": "permessage-deflate; client_max_window_bits",
}
SERVERS = ("tidings", "node")
NODE_APP = "bench/servers/node_app.cjs"  # from the repository root, where servers start
WARMUP = 5
TIMEOUT = 30.0  # seconds for a batch of 100 to join, and for each publish to reach all


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
        # A cast, not an isinstance check: uvloop's transports do not derive from asyncio's.
        self.transport = cast(asyncio.Transport, transport)
        key = base64.b64encode(os.urandom(16)).decode()
        ext = f"Sec-WebSocket-Extensions: {self.offer}\r\n" if self.offer else ""
        self.transport.write(
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


def server_argv(server: str, port: int, deflate: bool) -> list[str]:
    """The command line of ``server`` (``tidings`` or ``node``) on ``port``, with
    permessage-deflate accepted or not."""
    if server == "tidings":
        argv = [sys.executable, "-m", "bench.servers.tidings_app", "--port", str(port)]
    elif server == "node":
        argv = ["node", NODE_APP, "--port", str(port)]
    else:
        raise ValueError(f"unknown server {server!r}")
    return [*argv, "--deflate"] if deflate else argv


def task_cores(pid: int) -> frozenset[int]:
    """The cores any thread of ``pid`` may run on (Node's zlib runs on libuv's pool threads)."""
    cores: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            cores |= os.sched_getaffinity(int(task.name))
        except OSError:  # the thread ended
            pass
    return frozenset(cores)


async def run_mode(server_name: str, mode: str, n: int, publishes: int, size: int,
                   cpus: frozenset[int], warmup: int = WARMUP) -> dict[str, float]:
    port = procs.free_port()
    server = procs.start(server_argv(server_name, port, mode != "off"), cpus,
                         stdout=subprocess.DEVNULL)
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
            await asyncio.wait_for(asyncio.gather(*batch), TIMEOUT)
        ready: asyncio.Future[None] = loop.create_future()
        _, publisher = await loop.create_connection(
            lambda: Peer(MODES[mode], ready, None, Tally()), "127.0.0.1", port
        )
        await asyncio.wait_for(ready, TIMEOUT)
        messages = [f'42["publish","room",{json.dumps(payload(size, k))}]'
                    for k in range(publishes + warmup)]
        # Warm-up publishes (payloads of their own) first, not measured: Node's JIT and both
        # servers' first compressors get going before the clock starts.
        for k in range(1, warmup + 1):
            await publish(publisher, tally, messages[publishes + k - 1], k * n)
        tally.wire = 0
        cpu0, t0 = server_cpu(server.pid), time.perf_counter()
        for k in range(1, publishes + 1):
            await publish(publisher, tally, messages[k - 1], (warmup + k) * n)
        elapsed = time.perf_counter() - t0
        cpu = server_cpu(server.pid) - cpu0
        if server.poll() is not None or not task_cores(server.pid) <= cpus:
            raise RuntimeError(f"{server_name} exited or left its cores {sorted(cpus)}")
        deliveries = publishes * n
        return {
            "deliveries_per_s": deliveries / elapsed,
            "server_cpu_us_per_delivery": cpu / deliveries * 1e6,
            "wire_bytes_per_delivery": tally.wire / deliveries,
            "payload_bytes": len(messages[0]) - len('42["publish","room",]') + len('42["pub",]'),
        }
    finally:
        procs.stop(server)


async def publish(publisher: Peer, tally: Tally, message: str, target: int) -> None:
    """One publish in flight: send it, wait until the receivers' count reaches ``target``."""
    tally.target = target
    tally.reached = asyncio.get_running_loop().create_future()
    publisher.send(message)
    await asyncio.wait_for(tally.reached, TIMEOUT)


def server_cpu(pid: int) -> float:
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (OSError, ValueError):
            pass
    return total / 1e9


Results = dict[str, dict[str, list[dict[str, float]]]]  # server -> mode -> one dict per round


async def main_async(ns: argparse.Namespace) -> tuple[Results, dict[tuple[str, str], str]]:
    server_cpus, loadgen_cpus = procs.cores()
    os.sched_setaffinity(0, loadgen_cpus)
    print(f"servers on cores {sorted(server_cpus)}, clients on {sorted(loadgen_cpus)}", file=sys.stderr)
    results: Results = {s: {m: [] for m in ns.modes} for s in ns.servers}
    errors: dict[tuple[str, str], str] = {}
    for r in range(ns.rounds):
        for mode in ns.modes:
            # The servers take turns going first, round by round, against drifts in other load.
            for server in ns.servers if r % 2 == 0 else ns.servers[::-1]:
                try:
                    result = await run_mode(server, mode, ns.n, ns.publishes, ns.size, server_cpus,
                                            ns.warmup)
                except Exception as exc:  # one failed run must not end the others
                    errors[server, mode] = f"{type(exc).__name__}: {exc}"
                    print(f"round {r + 1} {server:8s} {mode:9s} failed: {errors[server, mode]}",
                          file=sys.stderr)
                    continue
                results[server][mode].append(result)
                print(f"round {r + 1} {server:8s} {mode:9s} "
                      + "  ".join(f"{k} {v:,.2f}" for k, v in result.items()), file=sys.stderr)
    return results, errors


COLUMNS = (("deliveries_per_s", "deliveries/s", "{:,.0f}"),
           ("server_cpu_us_per_delivery", "CPU µs/delivery", "{:.2f}"),
           ("wire_bytes_per_delivery", "wire B/delivery", "{:,.0f}"))


def medians(results: Results) -> dict[str, dict[str, dict[str, float]]]:
    """server -> mode -> metric -> median over the rounds measured (the upper one of two)."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for server, modes in results.items():
        for mode, rounds in modes.items():
            if rounds:
                out.setdefault(server, {})[mode] = {
                    k: sorted(r[k] for r in rounds)[len(rounds) // 2] for k in rounds[0]}
    return out


def table(meds: dict[str, dict[str, dict[str, float]]], servers: list[str], modes: list[str],
          errors: dict[tuple[str, str], str] | None = None) -> str:
    """One row per mode and server, then the ratio tidings/Node of each column (Node the
    reference, as in ``bench/run``: a CPU ratio below 1 is tidings spending less)."""
    errors = errors or {}
    servers = [s for s in SERVERS if s in servers]  # tidings first: the ratio is tidings/node
    lines = [f"{'mode':9s} {'server':13s}" + "".join(f" {label:>16s}" for _, label, _ in COLUMNS)]
    for mode in modes:
        first = mode
        for server in servers:
            med = meds.get(server, {}).get(mode)
            if med is None:
                why = errors.get((server, mode), "not measured")
                lines.append(f"{first:9s} {server:13s} failed: {why.splitlines()[0][:70]}")
            else:
                lines.append(f"{first:9s} {server:13s}"
                             + "".join(f" {fmt.format(med[k]):>16s}" for k, _, fmt in COLUMNS))
            first = ""
        if len(servers) > 1:
            a, b = servers[0], servers[1]
            ma, mb = meds.get(a, {}).get(mode), meds.get(b, {}).get(mode)
            if ma is not None and mb is not None:
                lines.append(f"{'':9s} {a + '/' + b:13s}" + "".join(
                    f" {ma[k] / mb[k]:>16.2f}" if mb[k] else f" {'-':>16s}" for k, _, _ in COLUMNS))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="receivers in the room")
    parser.add_argument("--publishes", type=int, default=100, help="measured publishes")
    parser.add_argument("--warmup", type=int, default=WARMUP,
                        help="publishes before the measured ones, not measured")
    parser.add_argument("--size", type=int, default=2048, help="payload size in bytes")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--modes", default="off,shared,takeover")
    parser.add_argument("--servers", default=",".join(SERVERS),
                        help="tidings, node or both (then with the ratios tidings/node)")
    ns = parser.parse_args()
    ns.modes = ns.modes.split(",")
    ns.servers = ns.servers.split(",")
    for name, given, known in (("mode", ns.modes, MODES), ("server", ns.servers, SERVERS)):
        unknown = [x for x in given if x not in known]
        if unknown or not given:
            parser.error(f"unknown {name}(s): {', '.join(unknown)} (known: {', '.join(known)})")
    procs.raise_nofile()
    with procs.stopping_all():
        results, errors = asyncio.run(main_async(ns))
    print(table(medians(results), ns.servers, ns.modes, errors))


if __name__ == "__main__":
    main()
