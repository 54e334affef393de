"""A plain WebSocket echo server: every text or binary message comes back as it was.

    python examples/echo.py --host 127.0.0.1 --port 9001

then, in a browser console: ``ws = new WebSocket("ws://127.0.0.1:9001");
ws.onmessage = (e) => console.log(e.data); ws.onopen = () => ws.send("hi")``.
It is also what ``scripts/autobahn`` runs the Autobahn|Testsuite cases against,
hence messages of up to 16 MiB, and permessage-deflate (RFC 7692) for clients that offer it.
"""

from __future__ import annotations

import argparse
import logging

from tidings.protocol.websocket.deflate import DeflateOptions
from tidings.standalone import run
from tidings.websocket_routes import WebSocket, WebSocketRoutes

routes = WebSocketRoutes()


# threshold=0: every message is compressed when the client negotiated it, as the
# Autobahn cases of sections 12 and 13 expect of an echo server.
@routes.route("/", max_message_size=16 * 2**20, per_message_deflate=DeflateOptions(threshold=0))
async def echo(ws: WebSocket) -> None:
    async for message in ws:
        await ws.send(message)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9001)
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args()
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(message)s")
    run(routes, args.host, args.port)


if __name__ == "__main__":
    main()
