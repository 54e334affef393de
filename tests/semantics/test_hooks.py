"""Node's Socket.IO-level hooks, each observed the same on tidings and on Node socket.io 4.8
(docs/node-semantics.md): ``socket.use`` and ``error``, ``on_any`` and its outgoing twin,
``send``/``message``, ``new_namespace`` and ``cleanup_empty_child_namespaces``."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.harness import AckError

from .conftest import CLIENT_OPTS, Link, StartApp


@pytest.fixture(params=["websocket", "polling"])
def client_opts(request: pytest.FixtureRequest) -> dict[str, Any]:
    """These rows run over both transports."""
    return {**CLIENT_OPTS, "transports": [request.param]}


async def test_use_rejects_a_packet_and_error_gets_it(start_app: StartApp, link: Link) -> None:
    url = await start_app()
    a = await link(url)
    await a.emit("forbidden")
    assert await a.event("error-seen") == ["forbidden event"]
    # A rejected packet with an ack is never acknowledged.
    with pytest.raises(AckError):
        await a.call("forbidden", timeout_ms=300)
    assert await a.event("error-seen") == ["forbidden event"]
    # Middleware may change the packet before its handler sees it.
    assert await a.call("shout", "hi") == ["HI"]
    assert a.received("forbidden-ran") == []  # the handler never ran
    # on_any listeners saw every packet, the rejected ones included (they run first).
    assert await a.call("seen") == [[
        "prepended:forbidden", "any:forbidden", "prepended:forbidden", "any:forbidden",
        "prepended:shout", "any:shout", "prepended:seen", "any:seen",
    ]]
    # An "error" event a client sends reaches the same handler (Node's overloaded "error").
    await a.emit("error", "from the client")
    assert await a.event("error-seen") == ["from the client"]


async def test_on_any_prepend_any_off_any(start_app: StartApp, link: Link) -> None:
    url = await start_app()
    a = await link(url)
    await a.emit("ping", 1)
    assert await a.call("seen") == [["prepended:ping", "any:ping", "prepended:seen", "any:seen"]]
    await a.call("off-any-one")  # removes on_any(first); prepend_any's stays
    await a.emit("ping", 2)
    assert await a.call("seen") == [
        ["prepended:off-any-one", "any:off-any-one", "prepended:ping", "prepended:seen"]
    ]
    await a.call("off-any-all")
    await a.emit("ping", 3)
    assert await a.call("seen") == [["prepended:off-any-all"]]


async def test_on_any_outgoing_sees_own_emits_and_broadcasts(
    start_app: StartApp, link: Link
) -> None:
    url = await start_app()
    a = await link(url)
    b = await link(url)
    await a.emit("emit-me", 1, {"k": [2]})
    assert await a.event("to-me") == [1, {"k": [2]}]
    # Acks are not outgoing events: the "sent" answers never show.
    assert await a.call("sent") == [[["prepended", "to-me"], ["out", "to-me", 1, {"k": [2]}]]]
    await a.call("broadcast-all")
    assert await b.event("to-all") == ["x"]
    assert await a.call("sent") == [[["prepended", "to-all"], ["out", "to-all", "x"]]]
    assert await b.call("sent") == [[["prepended", "to-all"], ["out", "to-all", "x"]]]
    await a.call("broadcast-others")  # socket.broadcast: not to a
    assert await b.event("to-others") == ["y"]
    assert await a.call("sent") == [[]]
    assert await b.call("sent") == [[["prepended", "to-others"], ["out", "to-others", "y"]]]
    await a.call("off-out-one")
    await a.emit("emit-me", 3)
    assert await a.event("to-me") == [3]
    assert await a.call("sent") == [[["prepended", "to-me"]]]
    await a.call("off-out-all")
    await a.emit("emit-me", 4)
    assert await a.event("to-me") == [4]
    assert await a.call("sent") == [[]]


async def test_send_and_the_message_event(start_app: StartApp, link: Link) -> None:
    url = await start_app()
    a = await link(url)
    b = await link(url)
    await a.emit("message", "hi", 2)  # what the client's socket.send("hi", 2) sends
    assert await a.event("message") == ["echo", "hi", 2]
    await a.emit("write-me")
    assert await a.event("message") == ["written"]
    await a.call("send-all")
    for s in (a, b):
        assert await s.event("message") == ["to everyone"]
    await a.call("namespace-send")
    for s in (a, b):
        assert await s.event("message") == ["from the namespace"]


async def test_new_namespace(start_app: StartApp, link: Link) -> None:
    url = await start_app()
    main = await link(url)
    assert await main.call("created") == [[]]
    one = await link(url, "/dyn-1")
    assert await one.call("where") == ["/dyn-1"]
    assert await main.call("created") == [["/dyn-1"]]
    await link(url, "/dyn-1")  # the namespace exists: nothing new
    await main.call("make-namespace", "/late")
    await main.call("make-namespace", "/late")
    assert await main.call("created") == [["/dyn-1", "/late"]]


@pytest.mark.parametrize("cleanup", [False, True])
async def test_cleanup_empty_child_namespaces(
    start_app: StartApp, link: Link, cleanup: bool
) -> None:
    url = await start_app(cleanup_empty_child_namespaces=cleanup)
    # One connection for all: the server reads the DISCONNECT before the next question.
    main = await link(url, manager="m")
    names = [f"/dyn-{i}" for i in range(1, 6)]
    for name in names:
        child = await link(url, name, manager="m")
        assert await child.call("where") == [name]
        await child.disconnect()
    assert await main.call("children") == [0 if cleanup else len(names)]
    again = await link(url, "/dyn-1", manager="m")
    assert await again.call("where") == ["/dyn-1"]
    assert await main.call("children") == [1 if cleanup else len(names)]
    # A removed child is made anew when asked for again, and announced again.
    assert await main.call("created") == [names + ["/dyn-1"] if cleanup else names]


async def test_on_any_outgoing_sees_the_recovery_offset(start_app: StartApp, link: Link) -> None:
    """With connection state recovery, what a socket is sent carries its offset last."""
    url = await start_app(connection_state_recovery=True)
    a = await link(url)
    b = await link(url)
    await a.emit("emit-me", 1)
    args = await a.event("to-me")
    assert len(args) == 2 and args[0] == 1 and isinstance(args[1], str)
    assert await a.call("sent") == [[["prepended", "to-me"], ["out", "to-me", *args]]]
    await a.call("broadcast-all")
    args = await b.event("to-all")
    assert len(args) == 2 and args[0] == "x"
    assert await b.call("sent") == [[["prepended", "to-all"], ["out", "to-all", *args]]]
