"""Pending acks and the offline buffer's bookkeeping, without a connection."""

from __future__ import annotations

import pytest

from tidings.client import DisconnectedError
from tidings.client.acks import PendingAcks
from tidings.client.namespace import ClientNamespace
from tidings.client.retries import OutgoingEvent
from tidings.protocol.socketio import EncodedPacket


async def test_an_answer_counts_only_on_the_namespace_it_was_sent_on() -> None:
    acks = PendingAcks()
    first, first_future = acks.create("/")
    second, second_future = acks.create("/chat")
    assert first != second
    acks.resolve("/chat", first, ["wrong namespace"])  # a server may not answer across namespaces
    assert not first_future.done()
    acks.resolve("/", first, ["ok"])
    assert first_future.result() == ["ok"]
    acks.resolve("/chat", None, ["no id"])
    assert not second_future.done()


async def test_failing_a_namespace_keeps_the_acks_still_buffered() -> None:
    acks = PendingAcks()
    sent, sent_future = acks.create("/")
    buffered, buffered_future = acks.create("/")
    other, other_future = acks.create("/other")
    acks.fail_namespace("/", keep={buffered})
    with pytest.raises(DisconnectedError, match="namespace / disconnected"):
        sent_future.result()
    assert not buffered_future.done()
    assert not other_future.done()
    acks.fail(buffered)
    assert isinstance(buffered_future.exception(), DisconnectedError)
    acks.discard(other)
    acks.fail_namespace("/other", keep=set())
    assert not other_future.done()  # discarded: nobody waits for it any more
    acks.resolve("/", sent, ["late"])  # an answer after the failure changes nothing


def test_unbuffer_drops_only_the_emit_given_up_on() -> None:
    ns = ClientNamespace("/")
    messages = [
        OutgoingEvent("w", (), EncodedPacket('27["w"]'), 7),
        OutgoingEvent("x", (), EncodedPacket('2["x"]'), None),
        OutgoingEvent("y", (), EncodedPacket('28["y"]'), 8),
    ]
    ns.buffer.extend(messages)
    assert ns.buffered_ack_ids() == {7, 8}
    ns.unbuffer(7)
    assert list(ns.buffer) == messages[1:]
    ns.unbuffer(99)
    assert ns.buffered_ack_ids() == {8}
