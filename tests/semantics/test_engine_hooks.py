"""Node engine.io's hooks and long-polling compression, observed the same on tidings and on
Node socket.io 4.8 (docs/node-semantics.md, docs/engine-hooks.md).

Each test sends the same raw HTTP requests to ``engine_app.py`` and ``node/engine_app.mjs``
(the official client sends no ``Accept-Encoding``, and refusals are what no client sends),
then reads what the engine's ``connection_error`` listeners saw through a socket.io client.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gzip
import json
import os
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

import tidings
from tests.e2e.harness import NodeClient, http_request, serving
from tidings.engine import Cookie, HttpCompression

from .conftest import NODE_ONLY, Link, node_app, stop_node
from .engine_app import build

SCRIPT = Path(__file__).resolve().parent / "node" / "engine_app.mjs"
BASE = "/socket.io/?EIO=4&transport=polling"

Start = Callable[..., Awaitable[str]]


def node_options(options: dict[str, Any]) -> dict[str, Any]:
    """tidings' options in Node's spelling."""
    spelled: dict[str, Any] = {}
    for name, value in options.items():
        if isinstance(value, Cookie):
            value = {"name": value.name, "path": value.path, "httpOnly": value.http_only,
                     "sameSite": value.same_site, "secure": value.secure}
        elif isinstance(value, HttpCompression):
            value = {"threshold": value.threshold}
        elif value is True:
            value = {}
        spelled[{"http_compression": "httpCompression"}.get(name, name)] = value
    return spelled


@pytest.fixture(params=["tidings", "node"])
def impl(request: pytest.FixtureRequest) -> str:
    """Which server runs the engine app. Most rows send raw HTTP from this process, so their
    Node row depends on its Python and loop too; the rows whose only client is the official
    one use ``NODE_CLIENT_ONLY`` instead."""
    return str(request.param)


#: For the rows whose only client is the official one: their Node row is Node alone.
NODE_CLIENT_ONLY = pytest.mark.parametrize("impl", ["tidings", NODE_ONLY])


@pytest.fixture
async def start(impl: str, node_bin: str) -> AsyncIterator[Start]:
    """``url = await start(**options)``: the engine app on ``impl``, stopped after the test."""
    async with contextlib.AsyncExitStack() as stack:

        async def run(**options: Any) -> str:
            if impl == "tidings":
                # The raw requests leave polling sessions that never poll again: a shutdown
                # would wait a second for them.
                url: str = await stack.enter_async_context(
                    serving(build(**options), shutdown_timeout=0.1)
                )
                return url
            proc, url = await node_app(node_bin, node_options(options), SCRIPT)
            stack.push_async_callback(stop_node, proc)
            return url

        yield run


async def handshake(url: str, query: str = "", headers: dict[str, str] | None = None) -> tuple[str, dict[str, str]]:
    """A polling handshake: the session id, and the response's headers."""
    status, response_headers, body = await http_request(url, "GET", BASE + query, headers=headers)
    assert status == 200, body
    open_packet = json.loads(body.decode()[1:])
    return open_packet["sid"], response_headers


async def connected_session(url: str) -> str:
    """A polling session joined to "/" (its CONNECT answered), as the client makes one."""
    sid, _ = await handshake(url)
    status, _, body = await http_request(url, "POST", f"{BASE}&sid={sid}", b"40")
    assert (status, body) == (200, b"ok")
    status, _, body = await http_request(url, "GET", f"{BASE}&sid={sid}")
    assert status == 200 and body.startswith(b"40{"), body
    return sid


async def poll_big(
    url: str, sid: str, n: int, accept: str | None, ask: str = "big"
) -> tuple[dict[str, str], bytes]:
    """Ask for a "big" event of ``n`` characters (``ask``: the event that asks) and poll for
    it with ``Accept-Encoding: accept``."""
    status, _, body = await http_request(url, "POST", f"{BASE}&sid={sid}", f'42["{ask}",{n}]'.encode())
    assert (status, body) == (200, b"ok")
    headers = {"Accept-Encoding": accept} if accept is not None else {}
    status, response_headers, body = await http_request(url, "GET", f"{BASE}&sid={sid}", headers=headers)
    assert status == 200
    return response_headers, body


def decoded(headers: dict[str, str], body: bytes) -> str:
    encoding = headers.get("content-encoding")
    if encoding == "gzip":
        body = gzip.decompress(body)
    elif encoding == "deflate":
        body = zlib.decompress(body)
    return body.decode()


def big_packet(n: int) -> str:
    return '42["big","' + "x" * n + '"]'


# -- httpCompression ---------------------------------------------------------------------

@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ("gzip, deflate, br", "gzip"),
        ("deflate", "deflate"),
        ("deflate;q=1, gzip;q=0.5", "deflate"),
        ("br, *", "gzip"),
        ("gzip;q=0, deflate;q=0", None),
        ("identity", None),
        (None, None),
    ],
)
async def test_long_polling_compression_follows_accept_encoding(
    start: Start, accept: str | None, expected: str | None
) -> None:
    url = await start()
    sid = await connected_session(url)
    headers, body = await poll_big(url, sid, 5000, accept)
    assert headers.get("content-encoding") == expected
    assert decoded(headers, body) == big_packet(5000)
    assert headers["content-type"] == "text/plain; charset=UTF-8"
    assert headers["cache-control"] == "no-store"
    assert "vary" not in headers  # as Node: the response is no-store, never cached
    if expected is not None:
        assert len(body) < 200  # 5,000 x's


async def test_compression_threshold_is_1024_bytes(start: Start) -> None:
    url = await start()
    sid = await connected_session(url)
    packet_overhead = len(big_packet(0))
    headers, body = await poll_big(url, sid, 1024 - packet_overhead - 1, "gzip")
    assert "content-encoding" not in headers
    assert len(body) == 1023
    headers, body = await poll_big(url, sid, 1024 - packet_overhead, "gzip")
    assert headers.get("content-encoding") == "gzip"
    assert decoded(headers, body) == big_packet(1024 - packet_overhead)


async def test_compression_can_be_turned_off_or_given_a_threshold(start: Start) -> None:
    url = await start(http_compression=False)
    sid = await connected_session(url)
    headers, body = await poll_big(url, sid, 5000, "gzip")
    assert "content-encoding" not in headers
    assert body.decode() == big_packet(5000)
    url = await start(http_compression=HttpCompression(threshold=100))
    sid = await connected_session(url)
    headers, body = await poll_big(url, sid, 100, "gzip")
    assert headers.get("content-encoding") == "gzip"
    assert decoded(headers, body) == big_packet(100)


async def test_a_batch_of_compress_false_packets_alone_is_not_compressed(start: Start) -> None:
    url = await start()
    sid = await connected_session(url)
    headers, body = await poll_big(url, sid, 5000, "gzip", ask="plain")
    assert "content-encoding" not in headers
    assert body.decode() == big_packet(5000)
    # One packet that may be compressed in the batch: the whole body is.
    headers, body = await poll_big(url, sid, 5000, "gzip", ask="mixed")
    assert headers.get("content-encoding") == "gzip"
    assert decoded(headers, body) == big_packet(5000) + '\x1e42["small",1]'


@NODE_CLIENT_ONLY
async def test_the_official_client_round_trips_big_payloads_over_polling(
    start: Start, client: NodeClient
) -> None:
    url = await start()
    socket = client.socket(url, opts={"transports": ["polling"], "reconnection": False})
    await socket.connect()
    await socket.connected()
    value = {"text": "é" * 3000, "list": list(range(500))}
    assert await socket.call("echo", value) == [value]
    await socket.emit("big", 20_000)
    assert await socket.event("big") == ["x" * 20_000]


# -- allowRequest, connection_error ----------------------------------------------------------

async def engine_errors(link: Link, url: str) -> list[dict[str, Any]]:
    socket = await link(url)
    [errors] = await socket.call("engine-errors")
    assert isinstance(errors, list)
    return errors


async def test_allow_request_refuses_with_node_answers(start: Start, link: Link) -> None:
    url = await start()
    status, _, body = await http_request(url, "GET", BASE + "&deny=go%20away")
    assert (status, json.loads(body)) == (403, {"code": 4, "message": "go away"})
    status, _, body = await http_request(url, "GET", BASE + "&deny=")
    assert (status, json.loads(body)) == (403, {"code": 4, "message": "Forbidden"})
    sid, _ = await handshake(url)  # allowed: no ?deny
    # Asked for new sessions only: a request of an open session is not refused.
    status, _, body = await http_request(url, "POST", f"{BASE}&sid={sid}&deny=x", b"40")
    assert (status, body) == (200, b"ok")
    assert await engine_errors(link, url) == [
        {"code": 4, "message": "Forbidden", "context": {"message": "go away"}},
        {"code": 4, "message": "Forbidden", "context": {"message": None}},
    ]


async def test_connection_error_for_every_refused_request(start: Start, link: Link) -> None:
    url = await start()
    refusals = [
        ("GET", "/socket.io/?EIO=4&transport=bogus", 400, 0, "Transport unknown", {"transport": "bogus"}),
        ("GET", BASE + "&sid=nope", 400, 1, "Session ID unknown", {"sid": "nope"}),
        ("POST", BASE, 400, 2, "Bad handshake method", {"method": "POST"}),
        ("GET", "/socket.io/?EIO=3&transport=polling", 400, 5, "Unsupported protocol version",
         {"protocol": 3}),
    ]
    for method, target, status, code, message, _ in refusals:
        got_status, _, body = await http_request(url, method, target)
        assert (got_status, json.loads(body)) == (status, {"code": code, "message": message})
    assert await engine_errors(link, url) == [
        {"code": code, "message": message, "context": context}
        for _, _, _, code, message, context in refusals
    ]


# -- generateId, cookie, initial_headers / headers ----------------------------------------

async def test_generate_id_names_the_session(start: Start) -> None:
    url = await start()
    sid, _ = await handshake(url, "&id=abc")
    assert sid == "id-abc"
    status, _, body = await http_request(url, "POST", f"{BASE}&sid=id-abc", b"40")
    assert (status, body) == (200, b"ok")


async def test_an_async_generate_id_names_the_session(start: Start, client: NodeClient) -> None:
    url = await start()
    sid, _ = await handshake(url, "&aid=abc")
    assert sid == "aid-abc"
    status, _, body = await http_request(url, "POST", f"{BASE}&sid=aid-abc", b"40")
    assert (status, body) == (200, b"ok")
    # Over WebSocket alone, the id is awaited after the 101.
    socket = client.socket(url, opts={"transports": ["websocket"], "query": {"aid": "ws"},
                                      "reconnection": False})
    await socket.connect()
    await socket.connected()
    assert await socket.call("engine-id") == ["aid-ws"]


async def test_initial_headers_and_headers_events(start: Start) -> None:
    url = await start()
    sid, headers = await handshake(url)
    assert (headers.get("x-initial"), headers.get("x-every")) == ("yes", "handshake")
    status, headers, _ = await http_request(url, "POST", f"{BASE}&sid={sid}", b"40")
    assert status == 200
    assert (headers.get("x-initial"), headers.get("x-every")) == (None, "sid")
    status, headers, _ = await http_request(url, "GET", f"{BASE}&sid={sid}")
    assert status == 200
    assert (headers.get("x-initial"), headers.get("x-every")) == (None, "sid")


async def upgrade_headers(url: str, query: str = "") -> tuple[int, dict[str, str]]:
    """A raw WebSocket upgrade: the status of its answer, and its headers (names lower-case)."""
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            f"GET /socket.io/?EIO=4&transport=websocket{query} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    finally:
        writer.close()
    headers = {}
    for line in head[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    return int(head[0].split(" ")[1]), headers


async def test_headers_events_add_to_the_101(start: Start) -> None:
    url = await start()
    # A new session over WebSocket: both events, as for a polling handshake.
    status, headers = await upgrade_headers(url)
    assert status == 101
    assert (headers.get("x-initial"), headers.get("x-every")) == ("yes", "handshake")
    # The upgrade of a polling session: "headers" only.
    sid, _ = await handshake(url)
    status, headers = await upgrade_headers(url, f"&sid={sid}")
    assert status == 101
    assert (headers.get("x-initial"), headers.get("x-every")) == (None, "sid")


async def test_no_cookie_by_default(start: Start) -> None:
    url = await start()
    _, headers = await handshake(url)
    assert "set-cookie" not in headers


@pytest.mark.parametrize(
    ("cookie", "expected"),
    [
        (True, "io={sid}; Path=/; HttpOnly; SameSite=Lax"),
        (Cookie(name="sess", path="/app", same_site="strict", secure=True, http_only=False),
         "sess={sid}; Path=/app; Secure; SameSite=Strict"),
    ],
)
async def test_cookie_carries_the_session_id(start: Start, cookie: Any, expected: str) -> None:
    url = await start(cookie=cookie)
    sid, headers = await handshake(url)
    assert headers["set-cookie"] == expected.format(sid=sid)
    # The handshake alone: no cookie on the session's later responses.
    status, headers, _ = await http_request(url, "POST", f"{BASE}&sid={sid}", b"40")
    assert status == 200 and "set-cookie" not in headers


def test_tidings_spells_the_options_as_documented() -> None:
    assert tidings.Server().engine.options.http_compression == HttpCompression(1024, 1)
    sio = tidings.Server(cookie=True, http_compression=HttpCompression(level=6))
    assert sio.engine.options.cookie == Cookie()
    assert sio.engine.options.http_compression == HttpCompression(threshold=1024, level=6)


@NODE_CLIENT_ONLY
async def test_allow_request_decides_a_websocket_handshake(
    impl: str, start: Start, client: NodeClient, link: Link
) -> None:
    url = await start()
    opts = {"transports": ["websocket"], "reconnection": False, "query": {"deny": "no"}, "timeout": 1500}
    refused = client.socket(url, opts=opts)
    await refused.connect()
    # Both answer the upgrade 403 (on tidings allow_request is async: it is waited for
    # before the 101), which the client reports at once rather than at its timeout.
    assert (await refused.connect_error())["message"] == "websocket error"
    # An allowed one connects (link: WebSocket only); on tidings allow_request is async.
    assert await engine_errors(link, url) == [
        {"code": 4, "message": "Forbidden", "context": {"message": "no"}},
    ]
