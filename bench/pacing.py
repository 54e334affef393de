"""How a namespace's CONNECT reply and the connect handler's first emit reach a client.

A raw WebSocket client on loopback connects many times to a Socket.IO server
whose connect handler emits at once (as the protocol's conformance suite has it)
and, for each connection, records:

- whether a client that reads whenever its socket is readable (as an event loop does,
  one read per wake-up) gets the two frames in **separate reads** or in one. The
  conformance suite's raw client registers its next listener between reads: two frames
  in one read lose the second one to it, so this is what decides its racy tests;
- the **gap between the two writes**: the kernel's receive time stamp of each frame's
  segment (``SO_TIMESTAMPNS``; on loopback a segment is stamped when the server's
  write hands it over), so the figure is the server's, not the client's.

Usage, from the repository root, against any server (tidings' ``examples/conformance.py``,
Node's reference server)::

    python -m bench.pacing http://127.0.0.1:3000 --connections 300
    python -m bench.pacing URL --namespace / --namespace /custom --json

One connection at a time, so the figures are about pacing, not load. Linux only
(``SIOCINQ``, TCP receive time stamps).
"""

from __future__ import annotations

import argparse
import base64
import fcntl
import json
import os
import select
import socket
import struct
import sys
import termios
import time
from dataclasses import asdict, dataclass
from urllib.parse import urlsplit

_TIMEOUT = 5.0
# Linux's value; Python exposes the name from 3.14 on.
_SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)


@dataclass(frozen=True, slots=True)
class Sample:
    """One connection: the two frames after the namespace CONNECT request."""

    apart: bool  # the first read held the CONNECT reply only
    gap_us: float | None  # between the two segments' time stamps (None: one segment)


@dataclass(frozen=True, slots=True)
class Summary:
    namespace: str
    connections: int
    apart: int
    one_segment: int  # both frames came in one segment: no gap to measure
    gap_us_p10: float | None
    gap_us_p50: float | None
    gap_us_p90: float | None


class Client:
    """A WebSocket client on a plain socket that reads one frame at a time."""

    def __init__(self, host: str, port: int, path: str) -> None:
        self.sock = socket.create_connection((host, port), timeout=_TIMEOUT)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
        self.buffer = b""
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            f"GET {path}?EIO=4&transport=websocket HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        while b"\r\n\r\n" not in self.buffer:
            self._recv(65536)
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        if not head.startswith(b"HTTP/1.1 101"):
            raise RuntimeError(f"upgrade refused: {head[:80]!r}")

    def close(self) -> None:
        self.sock.close()

    def _recv(self, size: int) -> int:
        """Read up to ``size`` bytes into the buffer; the segment's time stamp in ns."""
        data, ancdata, _flags, _addr = self.sock.recvmsg(size, socket.CMSG_SPACE(16))
        if not data:
            raise ConnectionError("closed by the server")
        self.buffer += data
        for level, kind, payload in ancdata:
            if level == socket.SOL_SOCKET and kind == _SO_TIMESTAMPNS:
                seconds, nanoseconds = struct.unpack("qq", payload[:16])
                return int(seconds) * 1_000_000_000 + int(nanoseconds)
        return 0

    def send_text(self, text: str) -> None:
        payload = text.encode()
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        length = len(payload)
        if length < 126:
            header = struct.pack("!BB", 0x81, 0x80 | length)
        else:
            header = struct.pack("!BBH", 0x81, 0x80 | 126, length)
        self.sock.sendall(header + mask + masked)

    def wait_readable(self) -> int:
        """Wait for data, as an event loop would; the bytes a read would get now."""
        if not self.buffer:
            ready, _, _ = select.select([self.sock], [], [], _TIMEOUT)
            if not ready:
                raise TimeoutError("nothing from the server")
        available = bytearray(4)
        fcntl.ioctl(self.sock.fileno(), termios.FIONREAD, available)
        return len(self.buffer) + int(struct.unpack("i", available)[0])

    def read_frame(self) -> tuple[str, int, int]:
        """The next frame's text, its size on the wire and the time stamp of its last byte."""
        stamp = 0
        while True:
            size = _frame_size(self.buffer)
            if size is not None and len(self.buffer) >= size:
                break
            if size is not None:
                need = size - len(self.buffer)
            elif len(self.buffer) < 2:
                need = 2 - len(self.buffer)
            else:  # an extended length: never read past this frame's header
                need = (4 if self.buffer[1] & 0x7F == 126 else 10) - len(self.buffer)
            stamp = self._recv(need) or stamp
        frame, self.buffer = self.buffer[:size], self.buffer[size:]
        return _frame_text(frame), size, stamp


def _frame_size(data: bytes) -> int | None:
    if len(data) < 2:
        return None
    length = data[1] & 0x7F
    if length == 126:
        if len(data) < 4:
            return None
        return 4 + int(struct.unpack("!H", data[2:4])[0])
    if length == 127:
        if len(data) < 10:
            return None
        return 10 + int(struct.unpack("!Q", data[2:10])[0])
    return 2 + length


def _frame_text(frame: bytes) -> str:
    length = frame[1] & 0x7F
    offset = 2 if length < 126 else 4 if length == 126 else 10
    return frame[offset:].decode("utf-8", "replace")


def measure_once(host: str, port: int, path: str, namespace: str) -> Sample:
    """Connect, ask for ``namespace``, and time the CONNECT reply and the next frame."""
    client = Client(host, port, path)
    try:
        text, _, _ = client.read_frame()
        if not text.startswith("0"):
            raise RuntimeError(f"expected the open packet, got {text[:40]!r}")
        prefix = "" if namespace == "/" else namespace + ","
        client.send_text("40" + prefix)
        while True:
            available = client.wait_readable()
            text, size, first_stamp = client.read_frame()
            if text != "2":  # a ping: not what this measures
                break
            client.send_text("3")
        if not text.startswith("40" + prefix):
            raise RuntimeError(f"expected the CONNECT reply, got {text[:60]!r}")
        apart = available <= size
        while True:
            if not client.buffer:
                client.wait_readable()
            text, _, second_stamp = client.read_frame()
            if text != "2":
                break
            client.send_text("3")
        if not text.startswith("42" + prefix):
            raise RuntimeError(f"expected the connect handler's emit, got {text[:60]!r}")
        if not first_stamp or second_stamp == first_stamp:
            # Written together, or merged by the kernel while the client had not read yet.
            return Sample(apart, None)
        return Sample(apart, (second_stamp - first_stamp) / 1000)
    finally:
        client.close()


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


def summarize(namespace: str, samples: list[Sample]) -> Summary:
    gaps = [s.gap_us for s in samples if s.gap_us is not None]
    return Summary(
        namespace=namespace,
        connections=len(samples),
        apart=sum(s.apart for s in samples),
        one_segment=len(samples) - len(gaps),
        gap_us_p10=_pct(gaps, 0.1),
        gap_us_p50=_pct(gaps, 0.5),
        gap_us_p90=_pct(gaps, 0.9),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.pacing",
        description="Time the CONNECT reply and the connect handler's first emit, as a client reads them.",
    )
    parser.add_argument("url", help="the server, e.g. http://127.0.0.1:3000")
    parser.add_argument("--connections", type=int, default=300, help="per namespace (300)")
    parser.add_argument(
        "--namespace", action="append", help='namespaces to join, one per option ("/" and "/custom")'
    )
    parser.add_argument("--path", default="/socket.io/", help="the Engine.IO path (/socket.io/)")
    parser.add_argument("--json", action="store_true", help="print JSON lines")
    args = parser.parse_args(argv)
    url = urlsplit(args.url)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    for namespace in args.namespace or ["/", "/custom"]:
        samples = []
        for _ in range(args.connections):
            samples.append(measure_once(host, port, args.path, namespace))
            time.sleep(0.002)  # let the server settle the closed connection
        summary = summarize(namespace, samples)
        if args.json:
            print(json.dumps(asdict(summary)))
        else:
            s = summary
            print(
                f"{s.namespace:<10} {s.apart:>4}/{s.connections} read apart   "
                f"write gap µs p10 {s.gap_us_p10}  p50 {s.gap_us_p50}  p90 {s.gap_us_p90}"
                f"   ({s.one_segment} in one segment)"
            )
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
