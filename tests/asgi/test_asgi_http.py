"""What surrounds the sessions under a real ASGI server: FastAPI next door, refusals, limits."""

from __future__ import annotations

import asyncio
import base64
import json
import os
from typing import Any

from tests.e2e.harness import RAW_WS_SCRIPT, NodeClient, http_request

from .served_app import ALLOWED_ORIGIN, MAX_PAYLOAD
from .servers import RunningServer

EVIL_ORIGIN = "http://evil.example"
POLLING = "/socket.io/?EIO=4&transport=polling"
WEBSOCKET = "/socket.io/?EIO=4&transport=websocket"


async def raw_exchange(url: str, head: list[str], body: bytes = b"") -> tuple[int, bytes]:
    """Send a request head exactly as given (plus Host); returns the status and what followed."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        lines = [head[0], f"Host: {host}:{port}", *head[1:]]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), 5)
        rest = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    finally:
        writer.close()
    assert status_line.startswith(b"HTTP/1.1 "), status_line
    return int(status_line.split()[1]), rest


def upgrade_head(target: str, origin: str | None) -> list[str]:
    key = base64.b64encode(os.urandom(16)).decode()
    head = [f"GET {target} HTTP/1.1", "Upgrade: websocket", "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"]
    if origin is not None:
        head.append(f"Origin: {origin}")
    return head


async def handshake(url: str) -> str:
    status, _, body = await http_request(url, "GET", POLLING)
    assert status == 200, body
    return str(json.loads(body[1:])["sid"])


async def test_fastapi_route_next_to_socketio(served: RunningServer, node: NodeClient) -> None:
    client = node.socket(served.url, opts={"transports": ["websocket"]})
    await client.connect()
    await client.connected()
    status, headers, body = await http_request(served.url, "GET", "/api/hello?name=asgi")
    assert status == 200
    assert headers["content-type"] == "application/json"
    assert json.loads(body) == {"hello": "asgi"}
    # A path nobody serves is FastAPI's 404, not the engine's.
    status, _, body = await http_request(served.url, "GET", "/nowhere")
    assert (status, json.loads(body)) == (404, {"detail": "Not Found"})
    assert await client.call("echo", "still here") == ["still here"]


async def test_fastapi_websocket_route_passes_through(
    served: RunningServer, start_node: Any
) -> None:
    raw: NodeClient = await start_node(RAW_WS_SCRIPT, served.url.replace("http", "ws") + "/api/ws")
    await raw.expect("open")
    await raw.command("send", data="tidings")
    assert (await raw.expect("message"))["data"] == "sgnidit"
    assert (await raw.expect("close"))["code"] == 1000


async def test_static_files(served: RunningServer) -> None:
    status, headers, body = await http_request(served.url, "GET", "/static/hello.txt")
    assert (status, body) == (200, b"static hello\n")
    assert headers["content-type"] == "text/plain; charset=utf-8"
    status, _, _ = await http_request(served.url, "GET", "/static/../served_app.py")
    assert status == 404


async def test_websocket_refused_for_a_foreign_origin(served: RunningServer) -> None:
    status, _ = await raw_exchange(served.url, upgrade_head(WEBSOCKET, EVIL_ORIGIN))
    assert status == 403
    status, _ = await raw_exchange(served.url, upgrade_head(WEBSOCKET, ALLOWED_ORIGIN))
    assert status == 101
    # An upgrade of a session that does not exist is refused with the engine's own status:
    # all three servers take the "websocket.http.response" extension.
    status, _ = await raw_exchange(served.url, upgrade_head(WEBSOCKET + "&sid=nosuchsid", None))
    assert status == 400


async def test_polling_refused_for_a_foreign_origin(served: RunningServer) -> None:
    status, _, body = await http_request(
        served.url, "GET", POLLING, headers={"Origin": EVIL_ORIGIN}
    )
    assert status == 403
    assert json.loads(body)["code"] == 4  # Engine.IO "Forbidden"
    status, headers, _ = await http_request(
        served.url, "GET", POLLING, headers={"Origin": ALLOWED_ORIGIN}
    )
    assert status == 200
    assert headers["access-control-allow-origin"] == ALLOWED_ORIGIN


async def test_official_client_with_origins(
    served: RunningServer, node: NodeClient, mode: str
) -> None:
    base = {"reconnection": False, **({"transports": [mode]} if mode != "upgrade" else {})}
    refused = node.socket(served.url, opts={**base, "extraHeaders": {"Origin": EVIL_ORIGIN}})
    await refused.connect()
    error = await refused.connect_error()
    assert error["message"] in ("xhr poll error", "websocket error")
    allowed = node.socket(served.url, opts={**base, "extraHeaders": {"Origin": ALLOWED_ORIGIN}})
    await allowed.connect()
    await allowed.connected()
    assert await allowed.call("echo", 1) == [1]


async def test_oversize_post_gets_413(served: RunningServer) -> None:
    sid = await handshake(served.url)
    target = f"{POLLING}&sid={sid}"
    status, _, body = await http_request(served.url, "POST", target, b"4" + b"x" * MAX_PAYLOAD)
    assert status == 413, body
    # Without a Content-Length the limit holds as the body streams in.
    chunk = b"x" * 4096
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(4)) + b"0\r\n\r\n"
    head = [f"POST {target} HTTP/1.1", "Transfer-Encoding: chunked", "Content-Type: text/plain"]
    status, _ = await raw_exchange(served.url, head, chunks)
    assert status == 413
    # The session is unharmed and still takes a POST within the limit.
    status, _, body = await http_request(served.url, "POST", target, b"4hello")
    assert (status, body) == (200, b"ok")


async def test_engine_errors_are_the_engines(served: RunningServer) -> None:
    status, _, body = await http_request(served.url, "GET", "/socket.io/?EIO=3&transport=polling")
    assert status == 400
    assert json.loads(body) == {"code": 5, "message": "Unsupported protocol version"}
    status, _, body = await http_request(served.url, "GET", POLLING + "&sid=unknown")
    assert status == 400
    assert json.loads(body)["code"] == 1  # Session ID unknown


async def test_dropped_poll_ends_the_session_at_once(served: RunningServer) -> None:
    """The server reports the dropped connection (http.disconnect) and the engine closes the
    session, as Node's does; left alone it would live on until its ping timeout (2 s here)."""
    sid = await handshake(served.url)
    host, port = served.url.removeprefix("http://").split(":")
    _, writer = await asyncio.open_connection(host, int(port))
    writer.write(f"GET {POLLING}&sid={sid} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    await writer.drain()
    # A round trip on another connection: by then the server has read the poll and holds it.
    status, _, _ = await http_request(served.url, "POST", f"{POLLING}&sid={sid}", b"6")
    assert status == 200
    writer.transport.abort()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 1.5
    while True:  # nothing outside the server says when it has seen the reset
        status, _, body = await http_request(served.url, "POST", f"{POLLING}&sid={sid}", b"6")
        if status != 200:
            break
        assert loop.time() < deadline, "the session outlived its dropped poll"
        await asyncio.sleep(0.02)
    assert (status, json.loads(body)["code"]) == (400, 1)  # Session ID unknown
