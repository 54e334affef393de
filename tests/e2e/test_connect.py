"""Connecting, refusing and disconnecting, seen from the official client."""

from __future__ import annotations

from typing import Any

import tidings
from tidings.ids import Room

from .harness import Mailbox, NodeClient, serving


async def test_connect_and_client_disconnect(
    node: NodeClient, client_opts: dict[str, Any], mode: str
) -> None:
    sio = tidings.Server()
    seen = Mailbox("server")

    @sio.on("connect")
    async def connect(socket: tidings.Socket, auth: Any) -> None:
        seen.put("connect", sid=socket.id, nsp=socket.namespace, auth=auth)

    @sio.on("disconnect")
    async def disconnect(socket: tidings.Socket, reason: str) -> None:
        seen.put("disconnect", sid=socket.id, reason=reason)

    async with serving(sio) as url:
        client = node.socket(url, opts=client_opts)
        await client.connect()
        info = await client.connected()
        on_server = await seen.get("connect")
        assert on_server["sid"] == info["sid"]
        assert on_server["nsp"] == "/"
        assert on_server["auth"] in (None, {})
        opened = await node.expect("open", manager=client.manager)
        assert opened["transport"] == ("websocket" if mode == "websocket" else "polling")
        if mode == "upgrade":
            upgraded = await node.expect("upgrade", manager=client.manager)
            assert upgraded["transport"] == "websocket"
        else:
            assert info["transport"] == opened["transport"]

        await client.disconnect()
        assert await client.disconnected() == "io client disconnect"
        gone = await seen.get("disconnect", sid=info["sid"])
        assert gone["reason"] == "client namespace disconnect"


async def test_server_initiated_disconnect(node: NodeClient, client_opts: dict[str, Any]) -> None:
    sio = tidings.Server()
    seen = Mailbox("server")

    @sio.event
    async def kick(socket: tidings.Socket, close: bool) -> None:
        await socket.disconnect(close=close)

    @sio.event
    async def echo(socket: tidings.Socket, *args: Any) -> tuple[Any, ...]:
        return args

    @sio.on("disconnect")
    async def disconnect(socket: tidings.Socket, reason: str) -> None:
        seen.put("disconnect", sid=socket.id, reason=reason)

    async with serving(sio) as url:
        kept = node.socket(url, opts=client_opts)
        await kept.connect()
        await kept.connected()
        kicked = node.socket(url, opts=client_opts)
        await kicked.connect()
        sid = (await kicked.connected())["sid"]

        await kicked.emit("kick", False)
        assert await kicked.disconnected() == "io server disconnect"
        assert (await seen.get("disconnect", sid=sid))["reason"] == "server namespace disconnect"

        # close=True also ends the Engine.IO connection; the client does not come back
        # by itself after a server disconnect, whichever way it was done.
        await kicked.reopen()
        sid = (await kicked.connected())["sid"]
        await kicked.emit("kick", True)
        assert await kicked.disconnected() == "io server disconnect"
        await seen.get("disconnect", sid=sid)

        # the other client saw none of it
        assert await kept.call("echo", "still here") == ["still here"]
        assert node.inbox.all("disconnect", id=kept.id) == []


async def test_handshake_auth_headers_query(node: NodeClient, client_opts: dict[str, Any]) -> None:
    sio = tidings.Server()
    seen = Mailbox("server")

    @sio.on("connect")
    async def connect(socket: tidings.Socket, auth: Any) -> None:
        hs = socket.handshake
        seen.put(
            "connect",
            auth=auth,
            hs_auth=hs.auth,
            header=hs.headers.get("x-tidings-test"),
            query=hs.query.get("room"),
            eio=hs.query.get("EIO"),
            address=hs.address,
        )

    async with serving(sio) as url:
        opts = {
            **client_opts,
            "query": {"room": "lobby"},
            "extraHeaders": {"X-Tidings-Test": "yes"},
        }
        client = node.socket(url, opts=opts, auth={"token": "s3cret", "n": [1, 2]})
        await client.connect()
        await client.connected()
        record = await seen.get("connect")
        assert record["auth"] == {"token": "s3cret", "n": [1, 2]}
        assert record["hs_auth"] == {"token": "s3cret", "n": [1, 2]}
        assert record["header"] == "yes"
        assert record["query"] == "lobby"
        assert record["eio"] == "4"
        assert record["address"] == "127.0.0.1"


async def test_middleware_rejection_reaches_client(
    node: NodeClient, client_opts: dict[str, Any]
) -> None:
    sio = tidings.Server()
    seen = Mailbox("server")

    @sio.use
    async def check_token(socket: tidings.Socket) -> None:
        auth = socket.handshake.auth or {}
        if auth.get("token") != "good":
            raise tidings.ConnectionRefusedError(
                "not authorized", data={"code": 401, "hint": "token"}
            )
        socket.data["user"] = "ada"

    @sio.on("connect")
    async def connect(socket: tidings.Socket, auth: Any) -> None:
        seen.put("connect", user=socket.data.get("user"))

    async with serving(sio) as url:
        refused = node.socket(url, opts=client_opts, auth={"token": "bad"})
        await refused.connect()
        error = await refused.connect_error()
        assert error["message"] == "not authorized"
        assert error["data"] == {"code": 401, "hint": "token"}

        accepted = node.socket(url, opts=client_opts, auth={"token": "good"})
        await accepted.connect()
        await accepted.connected()
        assert (await seen.get("connect"))["user"] == "ada"
        assert len(seen.all("connect")) == 1  # the refused one never reached the handler


async def test_connect_handler_refusal(node: NodeClient, client_opts: dict[str, Any]) -> None:
    sio = tidings.Server()

    @sio.on("connect")
    async def connect(socket: tidings.Socket, auth: Any) -> None:
        if not auth or auth.get("name") is None:
            raise tidings.ConnectionRefusedError("who are you?", data=["name", "missing"])
        await socket.emit("hello", auth["name"])

    async with serving(sio) as url:
        anonymous = node.socket(url, opts=client_opts)
        await anonymous.connect()
        error = await anonymous.connect_error()
        assert error["message"] == "who are you?"
        assert error["data"] == ["name", "missing"]

        named = node.socket(url, opts=client_opts, auth={"name": "grace"})
        await named.connect()
        await named.connected()
        assert await named.event("hello") == ["grace"]


async def test_connect_handler_sees_the_new_socket(
    node: NodeClient, client_opts: dict[str, Any]
) -> None:
    """As in Node: by the time the connect handler runs the socket is in its
    namespace and its own room, so a broadcast from there reaches it too."""
    sio = tidings.Server()
    seen = Mailbox("server")

    @sio.on("connect")
    async def connect(socket: tidings.Socket, auth: Any) -> None:
        seen.put(
            "connect",
            own_room=Room(socket.id) in socket.rooms,
            fetched={s.id for s in await sio.fetch_sockets()},
        )
        await sio.emit("joined", socket.id)

    async with serving(sio) as url:
        client = node.socket(url, opts=client_opts)
        await client.connect()
        sid = (await client.connected())["sid"]
        record = await seen.get("connect")
        assert record["own_room"] is True
        assert record["fetched"] == {sid}
        assert await client.event("joined") == [sid]
