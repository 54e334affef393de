"""A parser of the user's own, both ends tidings: the interface is all the server and the
client need. This toy writes each packet as two text messages (a header, then the data as
JSON with bytes in base64), so its decoder holds state between messages, as the default
parser's does while attachments are due."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

import tidings
from tests.e2e.harness import serving
from tidings.client import Client, ConnectError
from tidings.protocol.socketio import DecodeError, DecoderLimits, Packet, PacketDecoder, PacketType


def _dump(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return {"$b": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, list | tuple):
        return [_dump(v) for v in value]
    if isinstance(value, dict):
        return {k: _dump(v) for k, v in value.items()}
    return value


def _load(value: Any) -> Any:
    if isinstance(value, list):
        return [_load(v) for v in value]
    if isinstance(value, dict):
        if value.keys() == {"$b"}:
            return base64.b64decode(value["$b"])
        return {k: _load(v) for k, v in value.items()}
    return value


class ToyDecoder:
    def __init__(self, seen: list[str | bytes]) -> None:
        self.seen = seen
        self.header: list[Any] | None = None

    def receive(self, data: str | bytes) -> Packet | None:
        self.seen.append(data)
        if not isinstance(data, str):
            raise DecodeError("the toy parser reads text only")
        try:
            if self.header is None:
                if not data.startswith("toy:"):
                    raise DecodeError("not a toy header")
                self.header = json.loads(data[4:])
                return None
            ptype, nsp, ack_id = self.header
            self.header = None
            return Packet(PacketType(ptype), nsp, _load(json.loads(data)), ack_id)
        except (ValueError, TypeError) as exc:
            raise DecodeError(str(exc)) from None

    def detach(self) -> PacketDecoder:
        other = ToyDecoder(self.seen)
        other.header, self.header = self.header, None
        return other

    def reset(self) -> None:
        self.header = None


class ToyParser:
    def __init__(self) -> None:
        self.seen: list[str | bytes] = []  # every message any of its decoders read

    def encode(self, packet: Packet) -> tuple[str | bytes, ...]:
        ptype = packet.type
        if ptype == PacketType.BINARY_EVENT:
            ptype = PacketType.EVENT
        header = json.dumps([int(ptype), packet.namespace, packet.id])
        return ("toy:" + header, json.dumps(_dump(packet.data)))

    def decoder(self, limits: DecoderLimits) -> PacketDecoder:
        return ToyDecoder(self.seen)


@pytest.fixture
async def server_parser() -> ToyParser:
    return ToyParser()


@pytest.fixture
async def url(server_parser: ToyParser) -> AsyncIterator[str]:
    sio = tidings.Server(parser=server_parser)

    @sio.on("echo")
    def echo(socket: tidings.Socket, *args: Any) -> tuple[Any, ...]:
        return args

    @sio.on("ask")
    async def ask(socket: tidings.Socket, *args: Any) -> Any:
        return await socket.emit_with_ack("question", *args, timeout=5)

    @sio.on("join")
    def join(socket: tidings.Socket, room: str) -> None:
        socket.join(room)

    @sio.on("shout")
    async def shout(socket: tidings.Socket, room: str, *args: Any) -> None:
        await sio.to(room).emit("shouted", *args)

    async def guard(socket: tidings.Socket) -> None:
        if socket.handshake.auth == {"token": "bad"}:
            raise tidings.ConnectionRefusedError("no", data={"code": 1})

    sio.of("/").use(guard)
    async with serving(sio) as base:
        yield base


@pytest.mark.parametrize("transports", [("websocket",), ("polling",)])
async def test_a_user_parser_carries_everything(
    url: str, server_parser: ToyParser, transports: tuple[str, ...]
) -> None:
    client_parser = ToyParser()
    shouted: asyncio.Queue[list[Any]] = asyncio.Queue()
    client = Client(parser=client_parser, reconnection=False, timeout=5.0)

    @client.on("question")
    def question(*args: Any) -> Any:
        return ["answer", *args]

    @client.on("shouted")
    def on_shouted(*args: Any) -> None:
        shouted.put_nowait(list(args))

    await client.connect(url, auth={"token": "ok"}, transports=transports)
    try:
        assert await client.emit_with_ack("echo", "x", b"\x00\xff", {"b": [b"1"]}) == (
            "x", b"\x00\xff", {"b": [b"1"]}
        )
        assert await client.emit_with_ack("ask", b"q") == ["answer", b"q"]
        await client.emit("join", "r")
        await client.emit("shout", "r", "all", b"\x01")
        assert await shouted.get() == ["all", b"\x01"]
    finally:
        await client.disconnect()
    # Every message each side read was the toy's, none the default parser's.
    assert client_parser.seen and server_parser.seen
    for seen in (client_parser.seen, server_parser.seen):
        headers = [m for m in seen if isinstance(m, str) and m.startswith("toy:")]
        assert len(headers) * 2 == len(seen)

    refused = Client(parser=ToyParser(), reconnection=False, timeout=5.0)
    with pytest.raises(ConnectError) as caught:
        await refused.connect(url, auth={"token": "bad"}, transports=transports)
    assert (caught.value.message, caught.value.data) == ("no", {"code": 1})
    await refused.disconnect()


def test_what_parser_takes() -> None:
    assert type(tidings.Server().parser).__name__ == "JsonParser"
    assert type(tidings.Server(parser="msgpack").parser).__name__ == "MsgpackParser"
    with pytest.raises(ValueError):
        tidings.Server(parser="yaml")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        tidings.Server(parser=object())  # type: ignore[arg-type]


async def test_the_testing_kit_speaks_the_servers_parser() -> None:
    import tidings.testing

    sio = tidings.Server(parser="msgpack")

    @sio.on("echo")
    def echo(socket: tidings.Socket, *args: Any) -> tuple[Any, ...]:
        return args

    async with tidings.testing.connect(sio) as client:
        assert await client.emit_with_ack("echo", b"\x00", {"k": [b"v"]}) == (b"\x00", {"k": [b"v"]})
