"""The at-least-once queue of one namespace, with its real timers and a recording ``send``."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tidings.client import AckTimeoutError, DisconnectedError, OfflineBufferFullError
from tidings.client.retries import OutgoingEvent, QueuedEmit, RetryQueue
from tidings.protocol.socketio import EncodedPacket


class Wire:
    """What the queue wrote, and whether it may write (the namespace is connected)."""

    def __init__(self) -> None:
        self.connected = True
        self.sent: list[tuple[str, int | None]] = []
        self.changed = asyncio.Event()

    def send(self, entry: QueuedEmit) -> bool:
        if not self.connected:
            return False
        self.sent.append((entry.message.event, entry.message.ack_id))
        self.changed.set()
        return True

    async def wait_for(self, count: int) -> None:
        async with asyncio.timeout(5):
            while len(self.sent) < count:
                self.changed.clear()
                await self.changed.wait()


def entry(event: str, ack_id: int, timeout: float = 5.0) -> QueuedEmit:
    future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
    message = OutgoingEvent(event, (), EncodedPacket(f'2{ack_id}["{event}"]'), ack_id)
    return QueuedEmit(message, future, timeout)


async def test_one_in_flight_at_a_time_in_order() -> None:
    wire = Wire()
    queue = RetryQueue(3, 10, wire.send)
    first, second, third = entry("a", 0), entry("b", 1), entry("c", 2)
    for e in (first, second, third):
        queue.push(e)
    assert wire.sent == [("a", 0)]  # the others wait for the head's answer
    assert queue.ack_ids() == {0, 1, 2}
    first.future.set_result(["ok"])
    await wire.wait_for(2)
    assert wire.sent == [("a", 0), ("b", 1)]
    second.future.set_result([])
    await wire.wait_for(3)
    assert wire.sent[-1] == ("c", 2)
    third.future.set_result([])
    await asyncio.sleep(0)  # its settle callback
    assert len(queue) == 0


async def test_resent_with_the_same_ack_id_until_no_retry_is_left() -> None:
    wire = Wire()
    queue = RetryQueue(3, 10, wire.send)
    head, behind = entry("ack", 7, timeout=0.02), entry("next", 8)
    queue.push(head)
    queue.push(behind)
    with pytest.raises(AckTimeoutError):
        await head.future
    await wire.wait_for(5)
    assert wire.sent == [("ack", 7)] * 4 + [("next", 8)]  # 1 + 3 retries, then the next one
    assert head.tries == 4


async def test_an_answer_to_any_try_counts() -> None:
    wire = Wire()
    queue = RetryQueue(5, 10, wire.send)
    head = entry("slow", 3, timeout=0.02)
    queue.push(head)
    await wire.wait_for(2)
    head.future.set_result(["late answer to the first try"])  # same ack id: it is the answer
    assert await head.future == ["late answer to the first try"]
    await asyncio.sleep(0)
    assert len(queue) == 0


async def test_a_lost_connection_ends_the_try_and_reconnection_resends_at_once() -> None:
    wire = Wire()
    queue = RetryQueue(1, 10, wire.send)
    head = entry("x", 0, timeout=60)
    queue.push(head)
    wire.connected = False
    queue.pause()
    queue.push(entry("y", 1))
    assert wire.sent == [("x", 0)]
    wire.connected = True
    queue.resume()  # no waiting for the 60 s timeout
    assert wire.sent == [("x", 0), ("x", 0)]
    wire.connected = False
    queue.pause()  # the last try is lost too: no retry left
    with pytest.raises(DisconnectedError, match="no retry left"):
        await head.future


async def test_bounded_cancellable_and_closed() -> None:
    wire = Wire()
    wire.connected = False
    queue = RetryQueue(1, 2, wire.send)
    first, second = entry("a", 0), entry("b", 1)
    queue.push(first)
    queue.push(second)
    with pytest.raises(OfflineBufferFullError):
        queue.push(entry("c", 2))
    second.future.cancel()  # its caller gave up
    await asyncio.sleep(0)
    assert len(queue) == 1 and queue.ack_ids() == {0}
    queue.close(DisconnectedError("gone"))
    with pytest.raises(DisconnectedError, match="gone"):
        await first.future
    assert wire.sent == []
