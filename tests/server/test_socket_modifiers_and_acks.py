"""Node's semantics for what a handler does with one socket: ``socket.volatile`` and
``socket.timeout`` act on that socket, and a handler may answer an ack later, or never."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import tidings
import tidings.protocol.socketio


async def _two_peers(peer_factory: Any) -> tuple[Any, Any]:
    a, b = peer_factory(), peer_factory()
    for p in (a, b):
        await p.open()
        await p.connect()
    return a, b


async def test_socket_volatile_emits_to_this_socket_only(
    sio: tidings.Server, peer_factory: Any
) -> None:
    sockets: list[tidings.Socket] = []

    @sio.event
    async def hello(socket: tidings.Socket) -> None:
        sockets.append(socket)
        # A poll is held below, so the client can take it now: sent to this socket.
        await socket.volatile.emit("only-you", 1)
        await sio.emit("sentinel")

    a, b = await _two_peers(peer_factory)
    poll = asyncio.ensure_future(a.next())
    await asyncio.sleep(0)  # let the poll be held before the event is handled
    await a.post('42["hello"]')
    assert await poll == '42["only-you",1]'
    assert await a.event() == ("", ["sentinel"])
    assert await b.event() == ("", ["sentinel"])  # b never got "only-you"


async def test_socket_volatile_drops_what_the_client_cannot_take(
    sio: tidings.Server, peer_factory: Any
) -> None:
    handled = asyncio.Event()

    @sio.event
    async def hello(socket: tidings.Socket) -> None:
        await socket.volatile.emit("dropped")  # no poll held: dropped
        await socket.emit("kept")
        handled.set()

    a, _ = await _two_peers(peer_factory)
    await a.post('42["hello"]')
    # It may run in a task (queued behind the connect flow): poll only once it has run.
    await handled.wait()
    assert await a.event() == ("", ["kept"])


async def test_socket_timeout_asks_this_socket(sio: tidings.Server, peer_factory: Any) -> None:
    answers: list[Any] = []

    @sio.event
    async def start(socket: tidings.Socket) -> None:
        answers.append(await socket.timeout(2).emit_with_ack("ask", "q"))

    a, b = await _two_peers(peer_factory)
    await a.post('42["start"]')
    prefix, data = await a.event()
    assert data == ["ask", "q"]
    await a.post(f"43{prefix}[\"yes\"]")
    await sio.emit("sentinel")
    assert await b.event() == ("", ["sentinel"])  # b was never asked
    for _ in range(100):
        if answers:
            break
        await asyncio.sleep(0)
    assert answers == ["yes"]


async def test_socket_timeout_raises_when_this_socket_does_not_answer(
    sio: tidings.Server, peer_factory: Any
) -> None:
    outcome: asyncio.Future[BaseException] = asyncio.get_running_loop().create_future()

    @sio.event
    async def start(socket: tidings.Socket) -> None:
        try:
            await socket.timeout(0.05).emit_with_ack("ask")
        except tidings.AckTimeoutError as exc:
            outcome.set_result(exc)

    a, _ = await _two_peers(peer_factory)
    await a.post('42["start"]')
    assert (await a.event())[1] == ["ask"]
    assert isinstance(await asyncio.wait_for(outcome, 2), tidings.AckTimeoutError)


async def test_a_handler_with_an_ack_parameter_answers_later(
    sio: tidings.Server, peer_factory: Any
) -> None:
    kept: list[tidings.Ack] = []

    @sio.event
    def ask(socket: tidings.Socket, question: str, *, ack: tidings.Ack) -> str:
        assert ack.expected
        kept.append(ack)
        return "not an ack"

    @sio.event
    def answer(socket: tidings.Socket) -> None:
        kept[0]("later", 2)
        kept[0]("twice")  # ignored, as Node ignores a second call

    a, _ = await _two_peers(peer_factory)
    await a.post('427["ask","?"]', '42["answer"]')
    assert await a.next() == '437["later",2]'
    await sio.emit("sentinel")
    assert await a.event() == ("", ["sentinel"])  # no second ack, no ack from the return value


async def test_a_handler_with_an_ack_parameter_may_decline(
    sio: tidings.Server, peer_factory: Any
) -> None:
    @sio.event
    async def ask(socket: tidings.Socket, *, ack: tidings.Ack) -> None:
        await asyncio.sleep(0)

    a, _ = await _two_peers(peer_factory)
    await a.post('421["ask"]')
    await a.post('42["ask"]')  # no ack asked: the handler's ack does nothing
    await sio.emit("sentinel")
    assert await a.event() == ("", ["sentinel"])  # nothing before it: never acknowledged


async def test_volatile_with_ack_fails_at_once_when_dropped(
    sio: tidings.Server, peer_factory: Any
) -> None:
    errors: list[BaseException] = []

    @sio.event
    async def start(socket: tidings.Socket) -> None:
        with pytest.raises(tidings.AckTimeoutError) as caught:
            await socket.volatile.timeout(5).emit_with_ack("ask")
        errors.append(caught.value)
        await socket.emit("done")
        handled.set()

    handled = asyncio.Event()
    a, _ = await _two_peers(peer_factory)
    await a.post('42["start"]')
    await handled.wait()  # no poll held while it runs
    assert await a.event() == ("", ["done"])
    assert len(errors) == 1


async def test_an_ack_that_cannot_be_encoded_fails_alone(
    sio: tidings.Server, peer_factory: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """The ack is lost with a logged error naming the handler; the events queued behind it
    still run."""

    class NotJson:
        pass

    @sio.event
    async def bad(socket: tidings.Socket) -> Any:
        await asyncio.sleep(0)
        return NotJson()

    @sio.event
    async def good(socket: tidings.Socket, n: int) -> int:
        await asyncio.sleep(0)
        return n

    a, _ = await _two_peers(peer_factory)
    await a.post('421["bad"]', '422["good",7]', '423["good",8]')
    assert await a.next() == "432[7]"
    assert await a.next() == "433[8]"
    errors = [r.getMessage() for r in caplog.records if "could not encode the ack" in r.getMessage()]
    assert len(errors) == 1, errors
    assert "the handler of 'bad'" in errors[0] and "argument 1 of an ack (NotJson)" in errors[0]


async def test_what_a_client_may_nest_can_be_echoed(sio: tidings.Server, peer_factory: Any) -> None:
    """The decoder refuses nesting the encoder could not write back, so an echo never fails."""

    @sio.event
    async def echo(socket: tidings.Socket, value: Any) -> Any:
        await asyncio.sleep(0)
        return value

    deepest = "[" * (tidings.protocol.socketio.MAX_NESTING - 1) + "]" * (
        tidings.protocol.socketio.MAX_NESTING - 1)
    a, _ = await _two_peers(peer_factory)
    await a.post(f'421["echo",{deepest}]')
    assert await a.next() == f"431[{deepest}]"
    too_deep = "[" + deepest + "]"
    b = peer_factory()
    await b.open()
    await b.connect()
    await b.post(f'421["echo",{too_deep}]')  # refused: the connection closes with a parse error
    assert await b.next() == "1"
