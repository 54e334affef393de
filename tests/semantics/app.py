"""The semantics app on tidings: node/app.mjs written with tidings' API, line for line.

A test drives this app and the Node one with the same client script and asserts the
same observations; docs/node-semantics.md lists the pairs of spellings.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import tidings


def other_rooms(socket: tidings.Socket) -> list[str]:
    return sorted(r for r in socket.rooms if r != socket.id)


def target(sio: tidings.Server, source: str, socket: tidings.Socket, spec: dict[str, Any]) -> Any:
    t: Any = socket.broadcast if source == "socket" else sio
    for room in spec.get("to", []):
        t = t.to(room)
    for room in spec.get("except", []):
        t = t.except_(room)
    if spec.get("local"):
        t = t.local
    return t


def build(**options: Any) -> tidings.Server:
    sio = tidings.Server(**options)

    # Connection middleware: a refusal reaches the client as connect_error, with its data.
    guarded = sio.of("/guarded")

    @guarded.use
    def authorize(socket: tidings.Socket) -> None:
        if socket.handshake.auth.get("token") != "ok":
            raise tidings.ConnectionRefusedError("not authorized", data={"code": 401})

    @guarded.on("handshake")
    def handshake(socket: tidings.Socket) -> dict[str, Any]:
        h = socket.handshake
        return {
            "auth": h.auth, "room": h.query.get("room"), "eio": h.query.get("EIO"),
            "transport": h.query.get("transport"), "address": h.address, "secure": h.secure,
            "xdomain": h.xdomain, "path": h.url.split("?")[0], "host": h.headers.get("host"),
            "issued": "number" if isinstance(h.issued, int) else type(h.issued).__name__,
            "time": "string" if isinstance(h.time, str) else type(h.time).__name__,
        }

    # new_namespace: every namespace made after this line, dynamic children included.
    created: list[str] = []
    sio.on("new_namespace", lambda nsp: created.append(nsp.name))

    parent = sio.of(re.compile(r"/dyn-\d+"))

    @parent.on("where")
    def where(socket: tidings.Socket) -> str:
        return socket.namespace

    @sio.on("connect")
    def connect(socket: tidings.Socket, auth: Any) -> None:
        # socket.use: per-packet middleware; a rejection goes to the "error" handler.
        @socket.use
        def forbid(socket: tidings.Socket, packet: list[Any]) -> None:
            if packet[0] == "forbidden":
                raise ValueError("forbidden event")

        @socket.use
        async def shout(socket: tidings.Socket, packet: list[Any]) -> None:
            if packet[0] == "shout":
                packet[1] = str(packet[1]).upper()

        # on_any / prepend_any / off_any
        seen: list[str] = []

        def first(socket: tidings.Socket, event: str, args: list[Any]) -> None:
            seen.append("any:" + event)

        socket.on_any(first)
        socket.prepend_any(lambda socket, event, args: seen.append("prepended:" + event))
        socket.data["seen"] = seen
        socket.data["first"] = first

        # on_any_outgoing / prepend_any_outgoing / off_any_outgoing
        sent: list[list[Any]] = []

        def out(socket: tidings.Socket, event: str, args: list[Any]) -> None:
            sent.append(["out", event, *args])

        socket.on_any_outgoing(out)
        socket.prepend_any_outgoing(lambda socket, event, args: sent.append(["prepended", event]))
        socket.data["sent"] = sent
        socket.data["out"] = out

    @sio.on("error")
    async def error(socket: tidings.Socket, err: Any) -> None:
        await socket.emit("error-seen", str(err) if isinstance(err, Exception) else err)

    @sio.on("forbidden")
    async def forbidden(socket: tidings.Socket) -> None:
        await socket.emit("forbidden-ran")

    @sio.on("shout")
    def shout_handler(socket: tidings.Socket, text: str) -> str:
        return text

    @sio.on("seen")
    def seen(socket: tidings.Socket) -> list[str]:
        found = list(socket.data["seen"])
        socket.data["seen"].clear()
        return found

    @sio.on("off-any-one")
    def off_any_one(socket: tidings.Socket) -> None:
        socket.off_any(socket.data["first"])

    @sio.on("off-any-all")
    def off_any_all(socket: tidings.Socket) -> None:
        socket.off_any()

    @sio.on("sent")
    def sent(socket: tidings.Socket) -> list[list[Any]]:
        found = list(socket.data["sent"])
        socket.data["sent"].clear()
        return found

    @sio.on("off-out-one")
    def off_out_one(socket: tidings.Socket) -> None:
        socket.off_any_outgoing(socket.data["out"])

    @sio.on("off-out-all")
    def off_out_all(socket: tidings.Socket) -> None:
        socket.off_any_outgoing()

    @sio.on("emit-me")
    async def emit_me(socket: tidings.Socket, *args: Any) -> None:
        await socket.emit("to-me", *args)

    @sio.on("broadcast-all")
    async def broadcast_all(socket: tidings.Socket) -> None:
        await sio.emit("to-all", "x")

    @sio.on("broadcast-others")
    async def broadcast_others(socket: tidings.Socket) -> None:
        await socket.broadcast.emit("to-others", "y")

    # send / write: the "message" event
    @sio.on("message")
    async def message(socket: tidings.Socket, *args: Any) -> None:
        await socket.send("echo", *args)

    @sio.on("write-me")
    async def write_me(socket: tidings.Socket) -> None:
        await socket.write("written")

    @sio.on("send-all")
    async def send_all(socket: tidings.Socket) -> None:
        await sio.send("to everyone")

    @sio.on("namespace-send")
    async def namespace_send(socket: tidings.Socket) -> None:
        await sio.of("/").write("from the namespace")

    # new_namespace, cleanup_empty_child_namespaces
    @sio.on("created")
    def created_names(socket: tidings.Socket) -> list[str]:
        return list(created)

    @sio.on("make-namespace")
    def make_namespace(socket: tidings.Socket, name: str) -> None:
        sio.of(name)

    @sio.on("children")
    def children(socket: tidings.Socket) -> int:
        return len(parent.children)

    # one socket's emits: timeout, volatile; acks given late or never
    @sio.on("ask-me")
    async def ask_me(socket: tidings.Socket, ms: int) -> dict[str, Any]:
        try:
            return {"answer": await socket.timeout(ms / 1000).emit_with_ack("question", 1)}
        except tidings.AckTimeoutError:
            return {"error": "timeout"}

    @sio.on("volatile-me")
    async def volatile_me(socket: tidings.Socket) -> None:
        await socket.volatile.emit("volatile", 1)
        await sio.emit("sentinel")

    @sio.on("maybe")
    def maybe(socket: tidings.Socket, answer: bool, *, ack: tidings.Ack) -> None:
        if answer:
            ack("yes")

    @sio.on("later")
    def later(socket: tidings.Socket, *, ack: tidings.Ack) -> None:
        asyncio.get_running_loop().call_later(0.05, ack, "late")

    # rooms and broadcast operators
    @sio.on("join")
    def join(socket: tidings.Socket, rooms: Any) -> tuple[list[str], bool]:
        socket.join(rooms)
        return other_rooms(socket), socket.id in socket.rooms

    @sio.on("leave")
    def leave(socket: tidings.Socket, room: str) -> list[str]:
        socket.leave(room)
        return other_rooms(socket)

    @sio.on("emit-to")
    async def emit_to(socket: tidings.Socket, source: str, spec: dict[str, Any]) -> None:
        await target(sio, source, socket, spec).emit("targeted", source)
        await sio.emit("sentinel")

    @sio.on("fetch")
    async def fetch(socket: tidings.Socket, spec: dict[str, Any]) -> list[Any]:
        found = await target(sio, "server", socket, spec).fetch_sockets()
        return sorted([s.id, sorted(r for r in s.rooms if r != s.id)] for s in found)

    @sio.on("sockets-join")
    async def sockets_join(socket: tidings.Socket, spec: dict[str, Any], room: str) -> None:
        await target(sio, "server", socket, spec).sockets_join(room)

    @sio.on("sockets-leave")
    async def sockets_leave(socket: tidings.Socket, spec: dict[str, Any], room: str) -> None:
        await target(sio, "server", socket, spec).sockets_leave(room)

    @sio.on("disconnect-sockets")
    async def disconnect_sockets(socket: tidings.Socket, spec: dict[str, Any], close: bool) -> None:
        await target(sio, "server", socket, spec).disconnect_sockets(close)

    @sio.on("bye")
    async def bye(socket: tidings.Socket, close: bool) -> None:
        await socket.disconnect(close)

    @sio.on("ask-all")
    async def ask_all(socket: tidings.Socket, ms: int) -> dict[str, Any]:
        try:
            return {"answers": sorted(await sio.timeout(ms / 1000).emit_with_ack("question", 2))}
        except tidings.AckTimeoutError:
            return {"error": "timeout"}

    # disconnect reasons; the rooms are still there while "disconnecting"
    @sio.on("disconnecting")
    async def disconnecting(socket: tidings.Socket, reason: str) -> None:
        await socket.broadcast.emit("leaving", socket.id, reason, other_rooms(socket))

    @sio.on("disconnect")
    async def disconnect(socket: tidings.Socket, reason: str) -> None:
        await sio.emit("gone", socket.id, reason)

    return sio
