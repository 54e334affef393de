"""A bare Engine.IO echo server, configured as the engine.io protocol's test suite asks.

Port 3000, pingInterval 300 ms, pingTimeout 200 ms, maxPayload 1e6, CORS "*";
every message is sent back as it came (text or binary). Run it, then the suite:

    python examples/engineio_echo.py            # listens on 127.0.0.1:3000
    python examples/engineio_echo.py ::1 3000   # another interface or port
"""

from __future__ import annotations

import logging
import sys

import tidings.standalone
from tidings.engine import EngineServer, EngineSocket

engine = EngineServer(
    ping_interval=0.3,
    ping_timeout=0.2,
    max_payload=1_000_000,
    cors_allowed_origins="*",
)


@engine.on("message")
def echo(socket: EngineSocket, data: str | bytes) -> None:
    socket.send(data)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    host = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1"
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 3000
    tidings.standalone.run(engine, host=host, port=port)
