"""One connection's read is served at most MAX_MESSAGES_PER_TURN messages a loop turn.

uvloop reads up to 256 KiB at once: thousands of small messages from one flooding peer
would otherwise be handled in one go while every other connection waits. The rest of
such a read waits, unread past it, and is served over the next turns, in order; the
listener's own hold (its input is full) stops that too.
"""

from __future__ import annotations

import asyncio
from typing import cast

from tests.abuse.raw_client import frame
from tests.standalone.standalone_helpers import RecordingEngine
from tests.standalone.test_standalone_frames import RecordingTransport
from tidings.standalone import HttpOptions
from tidings.standalone.context import ConnectionContext
from tidings.standalone.websocket_protocol import MAX_MESSAGES_PER_TURN, WebSocketProtocol


class ReadTransport(RecordingTransport):
    """Records the reading switches too."""

    def __init__(self) -> None:
        super().__init__()
        self.reading = True
        self.switches: list[bool] = []

    def pause_reading(self) -> None:
        self.reading = False
        self.switches.append(False)

    def resume_reading(self) -> None:
        self.reading = True
        self.switches.append(True)


class Collecting:
    def __init__(self) -> None:
        self.got: list[str | bytes] = []
        self.closed: list[int] = []

    def on_message(self, data: str | bytes) -> None:
        self.got.append(data)

    def on_close(self, code: int, reason: str) -> None:
        self.closed.append(code)


def _protocol() -> tuple[WebSocketProtocol[Collecting], ReadTransport, Collecting]:
    context = ConnectionContext(
        loop=asyncio.get_running_loop(),
        options=HttpOptions(),
        engine=RecordingEngine(),
        routes=None,
        static=None,
        flush_batch=WebSocketProtocol.flush_batch,
    )
    transport = ReadTransport()
    ws: WebSocketProtocol[Collecting] = WebSocketProtocol(
        context, cast(asyncio.Transport, transport), 1_000_000, None
    )
    listener = Collecting()
    ws.start(listener, b"")
    return ws, transport, listener


async def test_a_big_read_is_served_a_share_per_turn_in_order() -> None:
    ws, transport, listener = _protocol()
    sent = [f"m{i}" for i in range(5 * MAX_MESSAGES_PER_TURN + 7)]
    ws.data_received(b"".join(frame(m) for m in sent))
    assert listener.got == sent[:MAX_MESSAGES_PER_TURN]
    assert transport.reading is False  # nothing more is read while the rest waits
    turns = 0
    while len(listener.got) < len(sent):
        served = len(listener.got)
        await asyncio.sleep(0)  # one loop turn
        turns += 1
        assert len(listener.got) - served <= MAX_MESSAGES_PER_TURN
    assert listener.got == sent
    assert turns == 5
    assert transport.reading is True and transport.switches == [False, True]


async def test_a_small_read_is_served_at_once_and_reading_is_untouched() -> None:
    ws, transport, listener = _protocol()
    sent = [f"m{i}" for i in range(MAX_MESSAGES_PER_TURN)]
    ws.data_received(b"".join(frame(m) for m in sent))
    assert listener.got == sent and transport.switches == []


async def test_the_listeners_hold_stops_the_rest_until_it_lets_go() -> None:
    ws, transport, listener = _protocol()
    sent = [f"m{i}" for i in range(3 * MAX_MESSAGES_PER_TURN)]
    ws.data_received(b"".join(frame(m) for m in sent))
    ws.pause_reading()  # the engine's input is full
    for _ in range(5):
        await asyncio.sleep(0)
    assert listener.got == sent[:MAX_MESSAGES_PER_TURN]
    ws.resume_reading()
    ws.resume_reading()  # twice: still one share a turn
    await asyncio.sleep(0)
    assert listener.got == sent[: 2 * MAX_MESSAGES_PER_TURN]
    assert transport.reading is False
    await asyncio.sleep(0)
    assert listener.got == sent and transport.reading is True


async def test_what_was_read_is_delivered_before_the_close() -> None:
    ws, _transport, listener = _protocol()
    sent = [f"m{i}" for i in range(2 * MAX_MESSAGES_PER_TURN)]
    ws.data_received(b"".join(frame(m) for m in sent))
    ws.connection_lost(None)
    assert listener.got == sent and listener.closed
