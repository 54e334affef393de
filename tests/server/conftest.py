"""Drive a real ``tidings.Server`` through its engine over HTTP long-polling, in memory.

The peer speaks the wire format by hand, so each test reads the exact packets the
server produced; no sockets, no sleeps (a held poll is awaited with a bound).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qsl

import pytest

import tidings
from tidings.engine import HttpRequest


class PollingPeer:
    def __init__(self, sio: tidings.Server, query: str = "", headers: dict[str, str] | None = None) -> None:
        self.sio = sio
        self.extra_query = query
        self.headers = headers or {}
        self.sid = ""
        self.inbox: list[str] = []

    def _request(self, method: str, body: bytes = b"") -> HttpRequest:
        qs = "EIO=4&transport=polling" + (f"&sid={self.sid}" if self.sid else "")
        if self.extra_query:
            qs += "&" + self.extra_query
        return HttpRequest(
            method=method, path="/socket.io/", query_string=qs,
            query=dict(parse_qsl(qs)), headers=dict(self.headers), body=body,
            client=("127.0.0.1", 50000),
        )

    async def open(self) -> dict[str, Any]:
        response = await self.sio.engine.handle_http(self._request("GET"))
        assert response.status == 200, response.body
        text = response.body.decode()
        assert text.startswith("0")
        handshake: dict[str, Any] = json.loads(text[1:])
        self.sid = handshake["sid"]
        return handshake

    async def post(self, *packets: str) -> int:
        response = await self.sio.engine.handle_http(self._request("POST", "\x1e".join(packets).encode()))
        return response.status

    async def poll(self, timeout: float = 2.0) -> list[str]:
        response = await asyncio.wait_for(self.sio.engine.handle_http(self._request("GET")), timeout)
        assert response.status == 200, response.body
        return response.body.decode().split("\x1e")

    async def next(self, timeout: float = 2.0) -> str:
        """The next Engine.IO packet that is not a ping (pings are answered)."""
        while not self.inbox:
            for packet in await self.poll(timeout):
                if packet == "2":
                    await self.post("3")
                else:
                    self.inbox.append(packet)
        return self.inbox.pop(0)

    async def connect(self, nsp: str = "/", auth: Any = None) -> str:
        prefix = "" if nsp == "/" else nsp + ","
        await self.post("40" + prefix + (json.dumps(auth) if auth is not None else ""))
        reply = await self.next()
        assert reply.startswith("40" + prefix), reply
        return str(json.loads(reply[2 + len(prefix):])["sid"])

    async def event(self, timeout: float = 2.0) -> tuple[str, list[Any]]:
        """The next Socket.IO EVENT: (namespace prefix + ack id part, decoded array)."""
        packet = await self.next(timeout)
        assert packet.startswith("42"), packet
        body = packet[2:]
        start = body.index("[")
        return body[:start], json.loads(body[start:])


@pytest.fixture
async def sio() -> AsyncIterator[tidings.Server]:
    server = tidings.Server(ping_interval=5, ping_timeout=5)
    yield server
    await server.shutdown(timeout=0.1)


@pytest.fixture
def peer_factory(sio: tidings.Server) -> Any:
    def make(**kwargs: Any) -> PollingPeer:
        return PollingPeer(sio, **kwargs)

    return make
