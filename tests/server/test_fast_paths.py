"""The server layer's fast paths give what the general paths give."""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

import tidings
from tidings.handlers import Handler, Suspended, resume, run_inline
from tidings.protocol.socketio import JsonParser, Packet, PacketType, encode
from tidings.serializers import JsonSerializer, OrjsonSerializer
from tidings.server.socket import short_ack

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20)
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
with_bytes = st.lists(json_values | st.binary(max_size=8), max_size=4)


@settings(max_examples=400, deadline=None)
@given(ack_id=st.integers(0, 2**31 - 1), args=st.lists(json_values, max_size=4))
def test_short_ack_is_the_encoders_ack(ack_id: int, args: list[Any]) -> None:
    for serializer in (OrjsonSerializer(), JsonSerializer()):
        general = encode(Packet(PacketType.ACK, "/", args, ack_id), serializer)
        assert general.attachments == ()
        assert short_ack(ack_id, args, JsonParser(serializer)) == general.text


@settings(max_examples=200, deadline=None)
@given(ack_id=st.integers(0, 2**31 - 1), args=with_bytes)
def test_short_ack_declines_what_needs_a_binary_ack(ack_id: int, args: list[Any]) -> None:
    serializer = OrjsonSerializer()
    general = encode(Packet(PacketType.ACK, "/", args, ack_id), serializer)
    short = short_ack(ack_id, args, JsonParser(serializer))
    if general.attachments:
        assert short is None
    else:
        assert short == general.text


async def test_a_resumed_coroutine_ends_as_awaiting_it_would() -> None:
    async def suspends(x: int) -> int:
        await asyncio.sleep(0)
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_soon(fut.set_result, x)
        return await fut * 2

    started = run_inline(suspends(21))
    assert isinstance(started, Suspended)
    assert await resume(started) == 42

    async def fails() -> None:
        await asyncio.sleep(0)
        raise KeyError("inside")

    started = run_inline(fails())
    assert isinstance(started, Suspended)
    try:
        await resume(started)
    except KeyError as exc:
        assert exc.args == ("inside",)
    else:
        raise AssertionError("the handler's error was lost")


async def test_a_handler_misjudged_as_inline_still_runs_and_acks(
    sio: tidings.Server, peer_factory: Any
) -> None:
    """If the inline check ever takes a suspending handler for one that cannot suspend,
    the handler still runs to its end and its ack is sent, in order with the next event."""
    order: list[str] = []

    async def slow(socket: tidings.Socket, n: int) -> int:
        await asyncio.sleep(0.01)
        order.append(f"slow{n}")
        return n + 1

    def quick(socket: tidings.Socket, n: int) -> int:
        order.append(f"quick{n}")
        return n

    sio.on("slow", slow)
    sio.on("quick", quick)
    handler = sio.of("/").handlers["slow"]
    assert isinstance(handler, Handler) and not handler.inline
    handler.inline = True  # what a wrong verdict of the bytecode check would do

    peer = peer_factory()
    await peer.open()
    await peer.connect()
    await peer.post('421["slow",1]', '422["quick",2]')
    assert await peer.next() == "431[2]"
    assert await peer.next() == "432[2]"
    assert order == ["slow1", "quick2"]


def test_short_ack_is_for_the_default_parser_only() -> None:
    from tidings.protocol.socketio.msgpack_parser import MsgpackParser

    assert short_ack(1, ["ok"], JsonParser()) == '31["ok"]'
    assert short_ack(1, ["ok"], MsgpackParser()) is None
