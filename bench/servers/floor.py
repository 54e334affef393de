"""The floor: a bare asyncio WebSocket broadcaster that speaks just enough Socket.IO.

It is the least a broadcast can cost in Python: the frame is built once and the same
bytes are written to every socket, so the benchmark can say how far a real server is
from the kernel's own cost. ``--coalesce`` holds a connection's frames until the end of
the loop turn and writes them in one call (the overload floor). It serves only what the
benchmark client sends: WebSocket transport, namespace "/", events join/echo/publish/mem.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import os
import signal
import struct
from typing import cast

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_PING_INTERVAL = 25.0


def frame(payload: bytes, opcode: int = 1) -> bytes:
    """One unmasked, final server frame."""
    n = len(payload)
    if n < 126:
        head = bytes((0x80 | opcode, n))
    elif n < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 127, n)
    return head + payload


def rss_bytes() -> int:
    with open("/proc/self/status", "rb") as f:
        for line in f:
            if line.startswith(b"VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


class Hub:
    """Rooms, and the per-loop-turn flush of the coalescing variant."""

    __slots__ = ("coalesce", "conns", "counter", "dirty", "loop", "rooms", "scheduled")

    def __init__(self, coalesce: bool) -> None:
        self.rooms: dict[str, set[Conn]] = {}
        self.coalesce = coalesce
        self.dirty: list[Conn] = []
        self.scheduled = False
        self.loop = asyncio.get_running_loop()
        self.conns: set[Conn] = set()
        self.counter = 0

    def broadcast(self, room: str, data: bytes) -> None:
        members = self.rooms.get(room)
        if not members:
            return
        if not self.coalesce:
            for conn in members:
                conn.transport.write(data)
            return
        dirty = self.dirty
        for conn in members:
            pending = conn.pending
            if pending is None:
                conn.pending = [data]
                dirty.append(conn)
            else:
                pending.append(data)
        if not self.scheduled:
            self.scheduled = True
            self.loop.call_soon(self.flush)

    def flush(self) -> None:
        self.scheduled = False
        dirty, self.dirty = self.dirty, []
        for conn in dirty:
            pending = conn.pending
            conn.pending = None
            if pending and not conn.closed:
                conn.transport.write(pending[0] if len(pending) == 1 else b"".join(pending))

    def ping_all(self) -> None:
        data = frame(b"2")
        for conn in self.conns:
            if conn.upgraded:
                conn.transport.write(data)
        self.loop.call_later(_PING_INTERVAL, self.ping_all)


class Conn(asyncio.Protocol):
    __slots__ = ("buf", "closed", "hub", "pending", "room", "sid", "transport", "upgraded")

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.buf = b""
        self.upgraded = False
        self.pending: list[bytes] | None = None
        self.room: str | None = None
        self.closed = False
        hub.counter += 1
        self.sid = f"{hub.counter:020d}"

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.hub.conns.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.hub.conns.discard(self)
        if self.room is not None:
            self.hub.rooms.get(self.room, set()).discard(self)

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data if self.buf else data
        if not self.upgraded:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                self.buf = buf
                return
            self.handshake(buf[:end])
            buf = buf[end + 4 :]
        pos = 0
        size = len(buf)
        while size - pos >= 2:
            b1 = buf[pos + 1]
            n = b1 & 0x7F
            head = pos + 2
            if n == 126:
                if size - pos < 4:
                    break
                n = struct.unpack_from("!H", buf, head)[0]
                head += 2
            elif n == 127:
                if size - pos < 10:
                    break
                n = struct.unpack_from("!Q", buf, head)[0]
                head += 8
            if b1 & 0x80:
                head += 4
            if size < head + n:
                break
            payload = buf[head : head + n]
            if b1 & 0x80:
                mask = buf[head - 4 : head]
                key = int.from_bytes((mask * (n // 4 + 1))[:n], "big")
                payload = (int.from_bytes(payload, "big") ^ key).to_bytes(n, "big")
            self.on_frame(buf[pos] & 0x0F, payload)
            pos = head + n
        self.buf = buf[pos:]

    def handshake(self, head: bytes) -> None:
        key = b""
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"sec-websocket-key":
                key = value.strip()
        if not key:
            self.transport.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            self.transport.close()
            return
        accept = base64.b64encode(hashlib.sha1(key + _GUID).digest())
        opened = json.dumps(
            {"sid": self.sid, "upgrades": [], "pingInterval": int(_PING_INTERVAL * 1000),
             "pingTimeout": 20000, "maxPayload": 1_000_000}
        ).encode()
        self.transport.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n" + frame(b"0" + opened)
        )
        self.upgraded = True

    def on_frame(self, opcode: int, payload: bytes) -> None:
        if opcode == 8:
            self.transport.write(frame(payload[:2], 8))
            self.transport.close()
        elif opcode == 9:
            self.transport.write(frame(payload, 10))
        elif opcode == 1 and payload[:1] == b"4":
            self.on_socketio(payload[1:])
        elif opcode == 1 and payload[:1] == b"1":
            self.transport.close()

    def on_socketio(self, packet: bytes) -> None:
        kind = packet[:1]
        if kind == b"0":
            self.transport.write(frame(b'40{"sid":"' + self.sid.encode() + b'"}'))
            return
        if kind == b"1":
            self.transport.close()
            return
        if kind != b"2":
            return
        start = packet.find(b"[")
        ack = packet[1:start]
        args = json.loads(packet[start:])
        event = args[0]
        reply: object = None
        if event == "publish":
            self.hub.broadcast(args[1], frame(b"42" + json.dumps(["pub", args[2]]).encode()))
        elif event == "join":
            self.room = args[1]
            self.hub.rooms.setdefault(args[1], set()).add(self)
            reply = [True]
        elif event == "echo":
            reply = args[1:]
        elif event == "mem":
            reply = [rss_bytes()]
        if ack and reply is not None:
            self.transport.write(frame(b"43" + ack + json.dumps(reply).encode()))


async def start_server(host: str, port: int, coalesce: bool) -> asyncio.Server:
    loop = asyncio.get_running_loop()
    hub = Hub(coalesce)
    server = await loop.create_server(lambda: Conn(hub), host, port, backlog=4096)
    loop.call_later(_PING_INTERVAL, hub.ping_all)
    return server


async def serve(host: str, port: int, coalesce: bool) -> None:
    loop = asyncio.get_running_loop()
    server = await start_server(host, port, coalesce)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    print(f"READY {port} pid={os.getpid()}", flush=True)
    await stop.wait()
    server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3000)
    parser.add_argument("--coalesce", action="store_true")
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    ns = parser.parse_args()
    if ns.loop == "uvloop":
        import uvloop

        uvloop.run(serve(ns.host, ns.port, ns.coalesce))
    else:
        asyncio.run(serve(ns.host, ns.port, ns.coalesce))


if __name__ == "__main__":
    main()
