"""A malformed packet from a raw client closes that connection only."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

import tidings

from .harness import MODES, RAW_WS_SCRIPT, Mailbox, NodeClient, http_request, serving

BAD_PACKETS = {
    "bad-json": '42["unterminated',
    "not-an-array": '42{"event":"x"}',
    "unknown-socketio-type": "47[]",
    "unknown-engineio-type": "9",
}

EIO = "/socket.io/?EIO=4&transport="


def make_server(seen: Mailbox) -> tidings.Server:
    sio = tidings.Server()

    @sio.on("connect")
    async def connect(socket: tidings.Socket, auth: Any) -> None:
        seen.put("connect", sid=socket.id)

    @sio.on("disconnect")
    async def disconnect(socket: tidings.Socket, reason: str) -> None:
        seen.put("disconnect", sid=socket.id, reason=reason)

    @sio.event
    def echo(socket: tidings.Socket, value: Any) -> Any:
        return value

    return sio


def open_packet(data: str) -> dict[str, Any]:
    assert data.startswith("0"), data
    result: dict[str, Any] = json.loads(data[1:])
    return result


def connect_reply_sid(data: str) -> str:
    assert data.startswith("40"), data
    sid: str = json.loads(data[2:])["sid"]
    return sid


@pytest.mark.parametrize("bad", list(BAD_PACKETS.values()), ids=list(BAD_PACKETS))
async def test_malformed_packet_over_polling(node: NodeClient, bad: str) -> None:
    seen = Mailbox("server")
    async with serving(make_server(seen)) as url:
        bystander = node.socket(url, opts=MODES["upgrade"])
        await bystander.connect()
        await bystander.connected()

        status, _, body = await http_request(url, "GET", EIO + "polling")
        assert status == 200
        eio_sid = open_packet(body.decode())["sid"]
        session = f"{EIO}polling&sid={eio_sid}"
        status, _, _ = await http_request(url, "POST", session, b"40")
        assert status == 200
        status, _, body = await http_request(url, "GET", session)
        assert status == 200
        sid = connect_reply_sid(body.decode())
        await seen.get("connect", sid=sid)

        await http_request(url, "POST", session, bad.encode())
        # The session is closed: it is unknown from now on (at most a close
        # packet may be answered to a poll first).
        for _ in range(3):
            status, _, body = await http_request(url, "GET", session)
            if status != 200 or body == b"1":
                break
        assert status == 400 or body == b"1", (status, body)
        if bad.startswith("4"):
            record = await seen.get("disconnect", sid=sid)
            if bad == BAD_PACKETS["bad-json"]:
                assert record["reason"] == "parse error"

        # the official client next to it noticed nothing
        assert await bystander.call("echo", "fine") == ["fine"]
        assert node.inbox.all("disconnect") == []


@pytest.mark.parametrize("bad", list(BAD_PACKETS.values()), ids=list(BAD_PACKETS))
async def test_malformed_packet_over_websocket(
    node: NodeClient, start_node: Callable[..., Awaitable[NodeClient]], bad: str
) -> None:
    seen = Mailbox("server")
    async with serving(make_server(seen)) as url:
        bystander = node.socket(url, opts=MODES["upgrade"])
        await bystander.connect()
        await bystander.connected()

        raw = await start_node(RAW_WS_SCRIPT, url.replace("http", "ws") + EIO + "websocket")
        await raw.expect("open")
        open_packet((await raw.expect("message"))["data"])
        await raw.command("send", data="40")
        sid = connect_reply_sid((await raw.expect("message"))["data"])
        await seen.get("connect", sid=sid)

        await raw.command("send", data=bad)
        closed = await raw.expect("close")
        assert closed["code"] in (1000, 1002, 1003, 1005, 1006, 1007, 1008), closed
        if bad.startswith("4"):
            record = await seen.get("disconnect", sid=sid)
            if bad == BAD_PACKETS["bad-json"]:
                assert record["reason"] == "parse error"

        assert await bystander.call("echo", "fine") == ["fine"]
        assert node.inbox.all("disconnect") == []
