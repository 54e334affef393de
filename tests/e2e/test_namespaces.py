"""Namespaces of every kind, multiplexed over one connection of the official client."""

from __future__ import annotations

import re
from typing import Any

import tidings

from .harness import Mailbox, NodeClient, serving


class Chat(tidings.Namespace):
    """A class-based namespace: ``on_<event>`` methods."""

    def __init__(self, name: str, seen: Mailbox) -> None:
        super().__init__(name)
        self.seen = seen

    async def on_connect(self, socket: tidings.Socket, auth: Any) -> None:
        self.seen.put("connect", nsp=socket.namespace, sid=socket.id)
        await socket.emit("motd", f"welcome to {socket.namespace}")

    async def on_message(self, socket: tidings.Socket, data: Any) -> Any:
        return {"echo": data, "nsp": socket.namespace}

    async def on_disconnect(self, socket: tidings.Socket, reason: str) -> None:
        self.seen.put("disconnect", nsp=socket.namespace, reason=reason)


def make_server(seen: Mailbox) -> tidings.Server:
    sio = tidings.Server()

    @sio.event
    def where(socket: tidings.Socket) -> str:
        return "main " + socket.namespace

    admin = sio.of("/admin")

    @admin.use
    async def admins_only(socket: tidings.Socket) -> None:
        if (socket.handshake.auth or {}).get("role") != "admin":
            raise tidings.ConnectionRefusedError("admins only", data={"need": "admin"})

    @admin.on("connect")
    async def admin_connect(socket: tidings.Socket, auth: Any) -> None:
        seen.put("connect", nsp=socket.namespace, sid=socket.id)

    @admin.event
    def where_admin(socket: tidings.Socket) -> str:
        return "admin " + socket.namespace

    sio.register_namespace(Chat("/chat", seen))

    dynamic = sio.of(re.compile(r"^/dyn-\d+$"))

    @dynamic.on("connect")
    async def dyn_connect(socket: tidings.Socket, auth: Any) -> None:
        seen.put("connect", nsp=socket.namespace, sid=socket.id)

    @dynamic.event
    def where_dyn(socket: tidings.Socket) -> str:
        return "dyn " + socket.namespace

    by_function = sio.of(lambda name, auth: name.startswith("/x-") and auth.get("ok") is True)

    @by_function.event
    def where_fn(socket: tidings.Socket) -> str:
        return "fn " + socket.namespace

    return sio


async def test_namespaces_over_one_connection(
    node: NodeClient, client_opts: dict[str, Any]
) -> None:
    seen = Mailbox("server")
    sio = make_server(seen)
    async with serving(sio) as url:
        main = node.socket(url, "/", id="main", manager="m", opts=client_opts)
        admin = node.socket(url, "/admin", id="admin", manager="m", auth={"role": "admin"})
        chat = node.socket(url, "/chat", id="chat", manager="m")
        dyn = node.socket(url, "/dyn-42", id="dyn", manager="m")
        fn = node.socket(url, "/x-files", id="fn", manager="m", auth={"ok": True})
        sockets = [main, admin, chat, dyn, fn]
        for socket in sockets:
            await socket.connect()
        for socket in sockets:
            await socket.connected()

        # one Engine.IO connection carries them all
        assert len(node.inbox.all("open", manager="m")) == 1
        sids = {s.sid for s in sockets}
        assert len(sids) == 5

        assert await main.call("where") == ["main /"]
        assert await admin.call("where_admin") == ["admin /admin"]
        assert await chat.call("message", {"x": 1}) == [{"echo": {"x": 1}, "nsp": "/chat"}]
        assert await chat.event("motd") == ["welcome to /chat"]
        assert await dyn.call("where_dyn") == ["dyn /dyn-42"]
        assert await fn.call("where_fn") == ["fn /x-files"]
        for nsp in ("/admin", "/chat", "/dyn-42"):
            await seen.get("connect", nsp=nsp)

        # handlers of one namespace do not answer in another: "where" is "/"'s
        assert admin.received("where") == []

        # broadcasts stay in their namespace
        await sio.emit("hello", "main")
        await sio.of("/admin").emit("hello", "admin")
        assert await main.event("hello") == ["main"]
        assert await admin.event("hello") == ["admin"]
        assert main.received("hello") == [["main"]]
        assert admin.received("hello") == [["admin"]]

        # leaving one namespace keeps the others and the connection
        await chat.disconnect()
        assert (await seen.get("disconnect", nsp="/chat"))[
            "reason"
        ] == "client namespace disconnect"
        assert await main.call("where") == ["main /"]
        assert len(node.inbox.all("open", manager="m")) == 1


async def test_dynamic_namespace_broadcast_and_refusals(
    node: NodeClient, client_opts: dict[str, Any]
) -> None:
    seen = Mailbox("server")
    sio = make_server(seen)
    parent = sio.of(re.compile(r"^/room-\w+$"))
    async with serving(sio) as url:
        one = node.socket(url, "/room-one", id="one", manager="m", opts=client_opts)
        two = node.socket(url, "/room-two", id="two", manager="m")
        for socket in (one, two):
            await socket.connect()
            await socket.connected()
        # an emit on the parent reaches every child namespace
        await parent.emit("all-rooms", 1)
        assert await one.event("all-rooms") == [1]
        assert await two.event("all-rooms") == [1]

        unknown = node.socket(url, "/nope", id="nope", manager="m")
        await unknown.connect()
        assert (await unknown.connect_error())["message"] == "Invalid namespace"

        not_admin = node.socket(url, "/admin", id="not-admin", manager="m", auth={"role": "user"})
        await not_admin.connect()
        error = await not_admin.connect_error()
        assert error["message"] == "admins only"
        assert error["data"] == {"need": "admin"}

        refused_fn = node.socket(url, "/x-other", id="x", manager="m", auth={"ok": False})
        await refused_fn.connect()
        assert (await refused_fn.connect_error())["message"] == "Invalid namespace"

        # the refusals did not harm the connection
        await parent.emit("all-rooms", 2)
        assert await one.event("all-rooms") == [2]
        assert await two.event("all-rooms") == [2]
