"""The ASGI writer's drain signal, against the rule a route's ``send`` relies on.

The writer calls ``on_drain`` when one sent message takes the queued bytes from
above ``write_limit`` to at most it; the rule (the built-in server's, asyncio's
``resume_writing``) is: once writing is paused, the first moment it is no longer.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tidings.asgi import ASGIWebSocket

Op = tuple[str, int]
ops = st.lists(
    st.one_of(st.tuples(st.just("push"), st.integers(0, 300)), st.just(("send", 0))),
    max_size=40,
)


class Listener:
    def __init__(self) -> None:
        self.drains = 0

    def on_message(self, data: str | bytes) -> None:
        raise AssertionError("nothing is received here")

    def on_close(self, code: int, reason: str) -> None:
        pass

    def on_drain(self) -> None:
        self.drains += 1


async def drive(steps: list[Op], limit: int) -> None:
    loop = asyncio.get_running_loop()
    gates: deque[asyncio.Future[None]] = deque()
    in_send = asyncio.Event()

    ending: list[bool] = []

    async def send(message: Any) -> None:
        if ending:
            return
        gate = loop.create_future()
        gates.append(gate)
        in_send.set()
        await gate

    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    transport = ASGIWebSocket(send, 10**9, write_limit=limit)
    listener = Listener()
    served = asyncio.ensure_future(transport.serve(inbox.get, listener))
    queued: deque[int] = deque()
    buffered, paused, drains = 0, False, 0
    for kind, size in steps:
        if kind == "push":
            transport.send_bytes(b"x" * size)
            queued.append(size)
            buffered += size
            paused = paused or buffered > limit
        elif queued:
            await in_send.wait()  # the writer is inside send() with the oldest message
            in_send.clear()
            gates.popleft().set_result(None)
            buffered -= queued.popleft()
            if paused and buffered <= limit:
                paused, drains = False, drains + 1
            if queued:
                await in_send.wait()  # it went on to the next message: this one is counted
            else:
                while transport.buffered_amount != buffered:
                    await asyncio.sleep(0)  # nothing to wait on: the writer goes idle
        assert transport.buffered_amount == buffered
        assert transport.writing_paused == (buffered > limit)
        assert listener.drains == drains
    ending.append(True)
    inbox.put_nowait({"type": "websocket.disconnect", "code": 1000})
    for gate in gates:
        gate.set_result(None)
    await asyncio.wait_for(served, 2)


@settings(max_examples=150, deadline=None)
@given(ops, st.integers(1, 500))
def test_drain_is_signalled_exactly_when_writing_resumes(steps: list[Op], limit: int) -> None:
    asyncio.run(asyncio.wait_for(drive(steps, limit), 5))
