"""The socket's two WebSocket shortcuts give what the general path gives.

``EngineSocket`` skips the session for a plain incoming MESSAGE (``take_message``)
and for sends on an open WebSocket (straight to the transport). The same inputs
are fed to sockets with either shortcut, both or none turned off, and every run
must give the same handler calls and the same bytes on the wire.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tidings.engine import CallbackHandler, EngineOptions, HttpRequest, PreparedMessage
from tidings.engine.context import SocketContext
from tidings.engine.io import PreparedFrames, WebSocketListener
from tidings.engine.socket import EngineSocket
from tidings.protocol.engineio import ServerSession
from tidings.protocol.engineio.events import Closed
from tidings.protocol.engineio.session import POLLING, WEBSOCKET
from tidings.protocol.websocket.frames import Opcode, encode_frame

OPTIONS = EngineOptions(ping_interval=1.0, ping_timeout=0.5, max_payload=40, upgrade_timeout=0.7)


class WholeMessagesSession(ServerSession):
    """A session that never takes the receive shortcut: every message goes the general way."""

    def take_message(self, data: str | bytes, now: float) -> str | None:
        return None


class QueuedSendsSocket(EngineSocket):
    """A socket that never writes straight to the transport: sends go through the session."""

    __slots__ = ()
    write_direct = False


class FramingWebSocket:
    """A transport that frames what it is given, as the built-in server does."""

    def __init__(self) -> None:
        self.wire = bytearray()
        self.closed: tuple[int, str] | None = None
        self.writes_after_close = 0

    def _write(self, frames: bytes) -> None:
        if self.closed is not None:
            self.writes_after_close += 1
            return
        self.wire += frames

    def send_text(self, data: str) -> None:
        self._write(encode_frame(Opcode.TEXT, data.encode("utf-8")))

    def send_bytes(self, data: bytes) -> None:
        self._write(encode_frame(Opcode.BINARY, data))

    def send_prepared(self, prepared: PreparedFrames) -> None:
        self._write(prepared.ws_frames)

    def close(self, code: int = 1000, reason: str = "") -> None:
        if self.closed is None:
            self.closed = (code, reason)

    @property
    def buffered_amount(self) -> int:
        return 0


@dataclass
class Run:
    """One socket, its clock and deadline, and what it did."""

    calls: list[tuple[object, ...]] = field(default_factory=list)
    clock: float = 0.0
    deadline: float | None = None


def handler_for(run: Run) -> CallbackHandler[EngineSocket]:
    """Records every call; what a message asks for ("e": echo, "p": a prepared send,
    "b": a binary send, "c": close) is done inside the handler, while the socket
    dispatches."""
    handler: CallbackHandler[EngineSocket] = CallbackHandler()

    def message(socket: EngineSocket, data: str | bytes) -> None:
        run.calls.append(("message", data))
        if isinstance(data, bytes) or data.startswith("e"):
            socket.send(data)
        elif data.startswith("p"):
            socket.send_prepared(PreparedMessage([data, b"\x00" + data.encode()]))
        elif data.startswith("b"):
            socket.send(data.encode())
        elif data.startswith("c"):
            socket.close()

    handler.set("message", message)
    handler.set("close", lambda socket, reason: run.calls.append(("closed", reason)))
    return handler


def open_socket(
    run: Run, session_type: type[ServerSession], socket_type: type[EngineSocket], start: str
) -> tuple[EngineSocket, FramingWebSocket, WebSocketListener]:
    handler = handler_for(run)

    def schedule(socket: EngineSocket, when: float | None) -> None:
        run.deadline = when

    def closed(socket: EngineSocket, event: Closed) -> None:
        handler.connection_closed(socket, event.reason)

    context: SocketContext[EngineSocket] = SocketContext(
        handler=handler,
        options=OPTIONS,
        now=lambda: run.clock,
        schedule=schedule,
        release_soon=lambda socket: run.calls.append(("release_soon",)),
        socket_closed=closed,
    )
    request = HttpRequest("GET", "/engine.io/", "EIO=4&transport=websocket", {}, {})
    transport = WEBSOCKET if start == "websocket" else POLLING
    session = session_type("s" * 20, OPTIONS.session_config(), run.clock, transport=transport)
    socket = socket_type(context, request, session)
    ws = FramingWebSocket()
    if start == "websocket":
        listener = socket.attach_websocket(ws)
        socket.start()
        return socket, ws, listener
    session.receive_poll(run.clock)  # the handshake's answer, as EngineServer gives it
    socket.start()
    upgrade = socket.start_upgrade(ws)
    assert upgrade is not None
    if start == "upgraded":
        upgrade.on_message("2probe")
        upgrade.on_message("5")
        assert socket.transport_name == "websocket"
    return socket, ws, upgrade


texts = st.builds(
    lambda prefix, body: prefix + body,
    st.sampled_from(["4", "4e", "4p", "4b", "4c", "4e\u00e9\U0001f600"]),
    st.text(max_size=8),
)
control = st.sampled_from(["2", "3", "6", "1", "5", "2probe", "", "x", "4" + "y" * 45])
messages = st.one_of(texts, st.binary(max_size=8), control).map(lambda m: ("receive", m))
steps = st.one_of(
    messages,
    st.sampled_from([("receive", "2probe"), ("receive", "5")]),  # an upgrade, often enough
    st.tuples(st.sampled_from(["tick", "late"]), st.sampled_from([0.1, 0.4, 0.6, 1.1])),
    st.tuples(st.just("send"), st.one_of(st.text(max_size=8), st.binary(max_size=8))),
    st.tuples(st.just("send_prepared"), st.text(max_size=8)),
    st.tuples(st.just("close"), st.sampled_from([1000, 1006])),
)

VARIANTS = [
    (ServerSession, EngineSocket),  # both shortcuts
    (WholeMessagesSession, EngineSocket),  # the send shortcut only
    (ServerSession, QueuedSendsSocket),  # the receive shortcut only
    (WholeMessagesSession, QueuedSendsSocket),  # the general path only
]


def play(
    script: list[tuple[str, object]],
    session_type: type[ServerSession],
    socket_type: type[EngineSocket],
    start: str,
) -> tuple[object, ...]:
    run = Run()
    socket, ws, listener = open_socket(run, session_type, socket_type, start)
    for kind, value in script:
        if kind == "receive":
            assert isinstance(value, (str, bytes))
            listener.on_message(value)
        elif kind in ("tick", "late"):
            assert isinstance(value, float)
            run.clock += value
            # "late": the heap's timer has not fired yet when the next input arrives.
            if kind == "tick" and run.deadline is not None and run.clock >= run.deadline:
                socket.on_deadline(run.clock)
        elif kind == "send":
            assert isinstance(value, (str, bytes))
            socket.send(value)
        elif kind == "send_prepared":
            assert isinstance(value, str)
            socket.send_prepared(PreparedMessage([value]))
        else:
            assert isinstance(value, int)
            listener.on_close(value, "")
    assert ws.writes_after_close == 0
    return (
        run.calls,
        bytes(ws.wire),
        ws.closed,
        socket.closed,
        socket.session.close_reason,
        socket.transport_name,
        socket.session.buffered_bytes,
        socket.session.poll_ready,
        run.deadline,
    )


@pytest.mark.parametrize("start", ["websocket", "upgrading", "upgraded"])
@settings(max_examples=150, deadline=None)
@given(script=st.lists(steps, max_size=25))
def test_shortcuts_give_what_the_general_path_gives(
    start: str, script: list[tuple[str, object]]
) -> None:
    outcomes = [play(script, session, socket, start) for session, socket in VARIANTS]
    assert all(outcome == outcomes[-1] for outcome in outcomes)


class CountingSession(ServerSession):
    """Counts the messages the session itself handles, in and out."""

    taken = 0
    sent = 0

    def take_message(self, data: str | bytes, now: float) -> str | None:
        message = super().take_message(data, now)
        if message is not None:
            CountingSession.taken += 1
        return message

    def send(self, data: str | bytes) -> None:
        CountingSession.sent += 1
        super().send(data)


@pytest.mark.parametrize(("socket_type", "sent"), [(EngineSocket, 0), (QueuedSendsSocket, 1)])
def test_the_shortcuts_are_taken(socket_type: type[EngineSocket], sent: int) -> None:
    """The comparison above would be empty if the shortcuts never ran: they do."""
    CountingSession.taken = CountingSession.sent = 0
    run = Run()
    _, ws, listener = open_socket(run, CountingSession, socket_type, "websocket")
    before = bytes(ws.wire)
    listener.on_message("4e")
    assert run.calls == [("message", "e")]
    assert CountingSession.taken == 1
    assert CountingSession.sent == sent  # 0: written straight to the transport
    assert ws.wire == before + encode_frame(Opcode.TEXT, b"4e")
