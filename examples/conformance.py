"""The server the Socket.IO protocol's conformance suite expects.

Configured as the "Test suite" section of the socket.io-protocol README asks
of the reference server: port 3000, pingInterval 300 ms, pingTimeout 200 ms,
maxPayload 1e6, connectTimeout 1000 ms, CORS "*", the same handlers and the
``/custom`` namespace. Run it, then the suite (see README.md):

    python examples/conformance.py                   # listens on 127.0.0.1:3000
    python examples/conformance.py 127.0.0.1 3100    # another interface or port
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import tidings
import tidings.standalone

sio = tidings.Server(
    ping_interval=0.3,
    ping_timeout=0.2,
    max_http_buffer_size=1_000_000,
    connect_timeout=1.0,
    cors_allowed_origins="*",
)


@sio.event
async def connect(socket: tidings.Socket, auth: Any) -> None:
    await socket.emit("auth", socket.handshake.auth)


@sio.event
async def message(socket: tidings.Socket, *args: Any) -> None:
    await socket.emit("message-back", *args)


async def message_with_ack(socket: tidings.Socket, *args: Any) -> tuple[Any, ...]:
    return args  # a tuple: every argument goes back as an ack argument


sio.on("message-with-ack", message_with_ack)

custom = sio.of("/custom")


async def custom_connect(socket: tidings.Socket, auth: Any) -> None:
    await socket.emit("auth", socket.handshake.auth)


custom.on("connect", custom_connect)


if __name__ == "__main__":
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    host = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1"
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 3000
    tidings.standalone.run(sio, host, port)
