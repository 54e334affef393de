"""Node's operators on one socket, on rooms and on the whole server, each observed the same on
tidings and on Node socket.io 4.8 (docs/node-semantics.md)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.harness import AckError, ClientSocket, NodeClient

from .conftest import CLIENT_OPTS, Link, StartApp


async def test_socket_timeout_asks_this_socket(start_app: StartApp, link: Link) -> None:
    url = await start_app()
    a = await link(url)
    b = await link(url)
    await a.reply("question", "value", "yes")
    assert await a.call("ask-me", 2000) == [{"answer": "yes"}]
    await a.reply("question", "none")
    assert await a.call("ask-me", 100) == [{"error": "timeout"}]
    assert b.received("question") == []  # only a was asked
    assert len(a.received("question")) == 2


async def test_socket_volatile_emits_to_this_socket(start_app: StartApp, link: Link) -> None:
    url = await start_app()
    a = await link(url)
    b = await link(url)
    await a.emit("volatile-me")
    await a.event("sentinel")
    await b.event("sentinel")
    assert a.received("volatile") == [[1]]  # a WebSocket can take it at once
    assert b.received("volatile") == []


async def test_a_handler_acks_later_or_never(start_app: StartApp, link: Link) -> None:
    url = await start_app()
    a = await link(url)
    assert await a.call("maybe", True) == ["yes"]
    with pytest.raises(AckError):
        await a.call("maybe", False, timeout_ms=300)
    assert await a.call("later") == ["late"]


async def test_join_leave_rooms(start_app: StartApp, link: Link) -> None:
    url = await start_app()
    a = await link(url)
    assert await a.call("join", "r1") == [["r1"], True]  # its own id is one of its rooms
    assert await a.call("join", ["r2", "r3"]) == [["r1", "r2", "r3"], True]
    assert await a.call("leave", "r2") == [["r1", "r3"]]
    assert await a.call("leave", "nowhere") == [["r1", "r3"]]


async def _three(link: Link, url: str) -> dict[str, ClientSocket]:
    """a in r1; b in r1 and r2; c in r2."""
    sockets = {}
    for name, rooms in (("a", ["r1"]), ("b", ["r1", "r2"]), ("c", ["r2"])):
        sockets[name] = s = await link(url)
        await s.call("join", rooms)
    return sockets


async def _reached(
    sockets: dict[str, ClientSocket], by: ClientSocket, source: str, spec: dict[str, Any]
) -> list[str]:
    """Who got "targeted" before the sentinel every socket gets after it."""
    before = {n: len(s.received("targeted")) for n, s in sockets.items()}
    await by.call("emit-to", source, spec)
    for s in sockets.values():
        await s.event("sentinel")
    return sorted(n for n, s in sockets.items() if len(s.received("targeted")) > before[n])


@pytest.mark.parametrize(
    ("source", "spec", "expected"),
    [
        pytest.param("server", {}, ["a", "b", "c"], id="io.emit"),
        pytest.param("server", {"to": ["r1"]}, ["a", "b"], id="io.to"),
        pytest.param("server", {"to": ["r1", "r2"]}, ["a", "b", "c"], id="io.to.to"),  # the union
        pytest.param("server", {"to": ["r1"], "except": ["r2"]}, ["a"], id="io.to.except"),
        pytest.param("server", {"except": ["r1"]}, ["c"], id="io.except"),
        pytest.param("server", {"local": True}, ["a", "b", "c"], id="io.local"),
        pytest.param("socket", {}, ["b", "c"], id="socket.broadcast"),  # not the sender
        pytest.param("socket", {"to": ["r1"]}, ["b"], id="socket.to"),
        pytest.param("socket", {"except": ["r2"]}, [], id="socket.except"),
    ],
)
async def test_broadcast_operators(
    start_app: StartApp, link: Link, source: str, spec: dict[str, Any], expected: list[str]
) -> None:
    url = await start_app()
    sockets = await _three(link, url)
    assert await _reached(sockets, sockets["a"], source, spec) == expected


async def test_fetch_sockets_and_sockets_join_leave(start_app: StartApp, link: Link) -> None:
    url = await start_app()
    s = await _three(link, url)
    a, b, c = s["a"].sid, s["b"].sid, s["c"].sid
    assert await s["a"].call("fetch", {"to": ["r1"]}) == [sorted([[a, ["r1"]], [b, ["r1", "r2"]]])]
    await s["a"].call("sockets-join", {"to": ["r2"]}, "r9")
    in_r9 = sorted([[b, ["r1", "r2", "r9"]], [c, ["r2", "r9"]]])
    assert await s["a"].call("fetch", {"to": ["r9"]}) == [in_r9]
    await s["a"].call("sockets-leave", {"except": ["r1"]}, "r9")
    assert await s["a"].call("fetch", {"to": ["r9"]}) == [[[b, ["r1", "r2", "r9"]]]]


@pytest.mark.parametrize("close", [False, True])
async def test_disconnect_sockets(start_app: StartApp, link: Link, close: bool) -> None:
    url = await start_app()
    s = await _three(link, url)
    await s["a"].emit("disconnect-sockets", {"to": ["r2"]}, close)
    assert await s["b"].disconnected() == "io server disconnect"
    assert await s["c"].disconnected() == "io server disconnect"
    assert await s["a"].call("join", []) == [["r1"], True]  # a stays


@pytest.mark.parametrize("close", [False, True])
async def test_socket_disconnect(start_app: StartApp, link: Link, close: bool) -> None:
    """disconnect(close=True) drops the whole connection: the client's other namespace too."""
    url = await start_app()
    main = await link(url, manager="m")
    child = await link(url, "/dyn-1", manager="m")
    await main.emit("bye", close)
    assert await main.disconnected() == "io server disconnect"
    if close:
        assert await child.disconnected() == "io server disconnect"
    else:
        assert await child.call("where") == ["/dyn-1"]


async def test_broadcast_with_acks(start_app: StartApp, link: Link) -> None:
    url = await start_app()
    a = await link(url)
    b = await link(url)
    await b.reply("question", "value", 3)
    assert await a.call("ask-all", 2000) == [{"answers": [2, 3]}]  # a echoes, b says 3
    await b.reply("question", "none")
    assert await a.call("ask-all", 200) == [{"error": "timeout"}]


@pytest.mark.parametrize(
    ("how", "reason"),
    [
        pytest.param("client", "client namespace disconnect", id="client"),
        pytest.param("server", "server namespace disconnect", id="server"),
        pytest.param("server-close", "server namespace disconnect", id="server-close"),
    ],
)
async def test_disconnect_reasons_and_rooms_while_disconnecting(
    start_app: StartApp, link: Link, how: str, reason: str
) -> None:
    url = await start_app()
    observer = await link(url)
    leaver = await link(url)
    await leaver.call("join", ["r1", "r2"])
    sid = leaver.sid
    if how == "client":
        await leaver.disconnect()
    else:
        await leaver.emit("bye", how == "server-close")
    assert await observer.event("leaving") == [sid, reason, ["r1", "r2"]]
    assert await observer.event("gone") == [sid, reason]


async def test_connection_middleware_and_handshake(start_app: StartApp, client: NodeClient) -> None:
    url = await start_app()
    refused = client.socket(url, "/guarded", opts=CLIENT_OPTS, auth={"token": "no"})
    await refused.connect()
    assert await refused.connect_error() == {
        "ev": "connect_error", "id": refused.id, "message": "not authorized", "data": {"code": 401}
    }
    opts = {**CLIENT_OPTS, "query": {"room": "lobby"}}
    ok = client.socket(url, "/guarded", opts=opts, auth={"token": "ok"})
    await ok.connect()
    await ok.connected()
    host = url.removeprefix("http://")
    assert await ok.call("handshake") == [{
        "auth": {"token": "ok"}, "room": "lobby", "eio": "4", "transport": "websocket",
        "address": "127.0.0.1", "secure": False, "xdomain": False, "path": "/socket.io/",
        "host": host, "issued": "number", "time": "string",
    }]


async def test_an_unknown_namespace_is_refused(start_app: StartApp, client: NodeClient) -> None:
    url = await start_app()
    nowhere = client.socket(url, "/nowhere", opts=CLIENT_OPTS)
    await nowhere.connect()
    assert (await nowhere.connect_error())["message"] == "Invalid namespace"
