"""The official socket.io-client with socket.io-msgpack-parser against tidings with
``parser="msgpack"``: every feature, binary included, in each transport mode."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.e2e.harness import NodeClient, serving

from .app import build

BLOB = bytes(range(256))


@pytest.fixture
async def url() -> AsyncIterator[str]:
    async with serving(build("msgpack")) as base:
        yield base


@pytest.fixture
def opts(client_opts: dict[str, Any]) -> dict[str, Any]:
    return {**client_opts, "parser": "msgpack"}


async def test_connect_emit_and_acks_both_ways(
    node: NodeClient, url: str, opts: dict[str, Any]
) -> None:
    sock = node.socket(url, opts=opts, auth={"token": "ok", "n": 7})
    await sock.connect()
    await sock.connected()
    assert await sock.call("whoami") == [{"token": "ok", "n": 7}]
    assert await sock.call("echo", "text", 42, 2.5, None, True, {"a": [1, {"b": "c"}]}) == [
        "text", 42, 2.5, None, True, {"a": [1, {"b": "c"}]}
    ]
    assert await sock.emit_with_ack("echo", "once") == "once"

    # The server asks the client (an ack from the client to the server), with binary.
    await sock.reply("question", "value", "answer", b"\x00\x01")
    assert await sock.call("ask", "what?") == ["answer", b"\x00\x01"]
    assert await sock.event("question") == ["what?"]


async def test_binary_both_ways(node: NodeClient, url: str, opts: dict[str, Any]) -> None:
    sock = node.socket(url, opts=opts)
    await sock.connect()
    await sock.connected()
    payload = [BLOB, {"parts": [b"", b"a", {"deep": b"\xff" * 40_000}], "text": "t"}]
    assert await sock.call("echo", *payload) == payload
    await sock.emit("echo_event", b"\x00bin", [b"x" * 300])
    assert await sock.event("echoed") == [b"\x00bin", [b"x" * 300]]


async def test_rooms_and_broadcast(node: NodeClient, url: str, opts: dict[str, Any]) -> None:
    alice = node.socket(url, opts=opts)
    bob = node.socket(url, opts=opts)
    for sock in (alice, bob):
        await sock.connect()
        await sock.connected()
    assert await bob.call("join", "lobby") == ["joined"]
    assert await alice.call("shout", "lobby", "hi", BLOB) == ["shouted"]
    assert await bob.event("shouted") == ["hi", BLOB]
    assert await alice.call("others", {"from": "alice"}, b"\x01") == ["sent"]
    assert await bob.event("from_other") == [{"from": "alice"}, b"\x01"]
    # Neither room nor broadcast reached alice; her next event is her own echo.
    await alice.emit("echo_event", "last")
    assert await alice.event("echoed") == ["last"]
    assert alice.received("shouted") == [] and alice.received("from_other") == []


async def test_namespaces_connect_error_and_disconnect(
    node: NodeClient, url: str, opts: dict[str, Any]
) -> None:
    main = node.socket(url, opts=opts, manager="m")
    admin = node.socket(url, "/admin", opts=opts, manager="m")
    await main.connect()
    await main.connected()
    await admin.connect()
    await admin.connected()
    assert await admin.call("where") == ["/admin"]

    refused = node.socket(url, opts=opts, auth={"token": "bad"})
    await refused.connect()
    error = await refused.connect_error()
    assert error["message"] == "not authorized"
    assert error["data"] == {"code": 401}

    missing = node.socket(url, "/nowhere", opts=opts, manager="m")
    await missing.connect()
    assert (await missing.connect_error())["message"] == "Invalid namespace"

    await admin.emit("kick")  # no "kick" handler on /admin: nothing happens there
    await main.emit("kick")
    assert await main.disconnected() == "io server disconnect"
    assert await admin.call("where") == ["/admin"]  # the other namespace stays
    await admin.disconnect()
    assert await admin.disconnected() == "io client disconnect"


async def test_a_default_client_cannot_talk_to_a_msgpack_server(
    node: NodeClient, url: str
) -> None:
    """Both ends must use the same parser: a text CONNECT is a parse error to this server."""
    sock = node.socket(url, opts={"transports": ["websocket"], "reconnection": False})
    await sock.connect()
    assert await sock.disconnected() == "transport close"
