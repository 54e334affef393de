"""The client-side Engine.IO session, driven with strings and a made-up clock."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

import tidings.protocol.engineio.client_session as client_session_module
from tidings.protocol.engineio.client_session import (
    POLLING,
    WEBSOCKET,
    ClientSession,
    ClientSessionState,
    Opened,
    Pinged,
    parse_handshake,
)
from tidings.protocol.engineio.events import Closed, MessageReceived, Upgraded, UpgradeFailed

HANDSHAKE = {
    "sid": "abc",
    "upgrades": ["websocket"],
    "pingInterval": 25000,
    "pingTimeout": 20000,
    "maxPayload": 1000000,
}


def open_packet(**changes: object) -> str:
    return "0" + json.dumps({**HANDSHAKE, **changes})


def polling_session(now: float = 0.0, **kwargs: object) -> ClientSession:
    """A session opened over polling at ``now``, events already taken."""
    session = ClientSession(now, **kwargs)  # type: ignore[arg-type]
    assert session.start_poll()
    session.receive_poll(open_packet(), now)
    events = session.events_received()
    assert isinstance(events[0], Opened)
    return session


def websocket_session(now: float = 0.0) -> ClientSession:
    session = ClientSession(now, transport=WEBSOCKET)
    session.websocket_opened(now)
    session.receive_websocket(open_packet(upgrades=[]), now)
    session.events_received()
    return session


# -- handshake --------------------------------------------------------------------------


def test_handshake_over_polling() -> None:
    session = ClientSession(10.0)
    assert session.state is ClientSessionState.OPENING
    assert session.start_poll()
    assert not session.start_poll()  # one GET at a time
    session.receive_poll(open_packet(), 10.5)
    events = session.events_received()
    assert events == [Opened("abc", ("websocket",), 25.0, 20.0, 1000000)]
    assert session.state is ClientSessionState.OPEN
    assert session.sid == "abc"
    assert session.next_deadline() == pytest.approx(10.5 + 45.0)
    assert session.start_poll()  # the next long-poll


def test_handshake_payload_may_carry_more_packets() -> None:
    session = ClientSession(0.0)
    session.start_poll()
    session.receive_poll(open_packet() + "\x1e4hello\x1ebAAEC", 0.0)
    events = session.events_received()
    assert isinstance(events[0], Opened)
    assert events[1:] == [MessageReceived("hello"), MessageReceived(b"\x00\x01\x02")]


def test_handshake_over_websocket() -> None:
    session = ClientSession(0.0, transport=WEBSOCKET)
    assert not session.start_poll()
    assert not session.start_probe()
    session.send("early")  # queued until the session is open
    session.websocket_opened(0.0)
    assert session.websocket_to_send() == []
    session.receive_websocket(open_packet(), 1.0)
    assert [type(e) for e in session.events_received()] == [Opened]
    assert session.websocket_to_send() == ["4early"]
    assert not session.start_probe()  # already on websocket


@pytest.mark.parametrize(
    "data",
    [
        "not json",
        "[]",
        json.dumps({**HANDSHAKE, "sid": ""}),
        json.dumps({**HANDSHAKE, "sid": 5}),
        json.dumps({**HANDSHAKE, "pingInterval": "25000"}),
        json.dumps({**HANDSHAKE, "pingTimeout": -1}),
        json.dumps({**HANDSHAKE, "upgrades": "websocket"}),
        json.dumps({**HANDSHAKE, "maxPayload": 0}),
    ],
)
def test_invalid_handshake_closes_with_transport_error(data: str) -> None:
    session = ClientSession(0.0)
    session.start_poll()
    session.receive_poll("0" + data, 0.0)
    events = session.events_received()
    assert len(events) == 1 and isinstance(events[0], Closed)
    assert events[0].reason == "transport error"
    assert session.state is ClientSessionState.CLOSED
    assert not session.start_poll()


def test_parse_handshake_defaults_max_payload() -> None:
    data = {k: v for k, v in HANDSHAKE.items() if k != "maxPayload"}
    assert parse_handshake(json.dumps(data)).max_payload == 1_000_000


def test_first_packet_must_be_open() -> None:
    session = ClientSession(0.0)
    session.start_poll()
    session.receive_poll("4hello", 0.0)
    (event,) = session.events_received()
    assert isinstance(event, Closed) and event.reason == "transport error"


def test_handshake_timeout() -> None:
    session = ClientSession(0.0, open_timeout=5.0)
    session.start_poll()
    assert session.next_deadline() == 5.0
    session.handle_timer(4.9)
    assert session.events_received() == []
    session.handle_timer(5.0)
    assert session.events_received() == [Closed("timeout", "no handshake in time")]
    assert session.next_deadline() is None


# -- heartbeat --------------------------------------------------------------------------


def test_ping_is_answered_and_moves_the_deadline_over_polling() -> None:
    session = polling_session(0.0)
    assert session.start_poll()
    session.receive_poll("2", 20.0)
    assert session.next_deadline() == pytest.approx(65.0)
    assert session.start_post() == "3"
    assert session.start_post() is None  # one POST at a time
    session.send("x")
    assert session.start_post() is None
    session.post_done(20.1)
    assert session.start_post() == "4x"


def test_ping_is_answered_over_websocket() -> None:
    session = websocket_session(0.0)
    session.receive_websocket("2", 24.0)
    assert session.websocket_to_send() == ["3"]
    assert session.next_deadline() == pytest.approx(69.0)
    assert session.events_received() == [Pinged()]  # the Manager's "ping" event


def test_ping_timeout() -> None:
    session = websocket_session(0.0)
    session.receive_websocket("2", 25.0)
    session.handle_timer(69.9)
    assert session.state is ClientSessionState.OPEN
    session.handle_timer(70.0)
    assert session.events_received() == [Pinged(), Closed("ping timeout", "no ping from the server in time")]
    assert session.state is ClientSessionState.CLOSED
    assert session.websocket_to_send() == []


# -- messages ---------------------------------------------------------------------------


def test_messages_in_and_out_over_websocket() -> None:
    session = websocket_session()
    session.receive_websocket("4text", 1.0)
    session.receive_websocket(b"\x01\x02", 1.0)
    session.receive_websocket("6", 1.0)  # noop
    assert session.events_received() == [MessageReceived("text"), MessageReceived(b"\x01\x02")]
    session.send("hi")
    session.send(b"\xff")
    session.send(bytearray(b"\x00"))
    assert session.websocket_to_send() == ["4hi", b"\xff", b"\x00"]


def test_posts_are_batched_up_to_max_payload() -> None:
    session = ClientSession(0.0)
    session.start_poll()
    session.receive_poll(open_packet(maxPayload=10), 0.0)
    session.events_received()
    session.send("aaaa")  # "4aaaa" = 5
    session.send("bbb")  # + 1 + 4 = 10
    session.send("c")  # would make 13
    session.send(b"\x00")
    assert session.start_post() == "4aaaa\x1e4bbb"
    session.post_done(0.0)
    assert session.start_post() == "4c\x1ebAA=="
    session.post_done(0.0)
    assert session.start_post() is None


def test_a_packet_larger_than_max_payload_still_goes_alone() -> None:
    session = ClientSession(0.0)
    session.start_poll()
    session.receive_poll(open_packet(maxPayload=3), 0.0)
    session.send("toolong")
    assert session.start_post() == "4toolong"


def test_no_post_before_the_handshake() -> None:
    session = ClientSession(0.0)
    session.send("early")
    assert session.start_post() is None
    session.start_poll()
    session.receive_poll(open_packet(), 0.0)
    assert session.start_post() == "4early"


def test_send_type_checked_and_refused_after_close() -> None:
    session = websocket_session()
    with pytest.raises(TypeError):
        session.send(42)  # type: ignore[arg-type]
    session.receive_websocket("1", 0.0)
    with pytest.raises(RuntimeError):
        session.send("late")


@pytest.mark.parametrize("data", ["", "9", "bnot-base64!", "5", "0{}"])
def test_invalid_packets_close_the_session(data: str) -> None:
    session = websocket_session()
    session.receive_websocket(data, 1.0)
    (event,) = session.events_received()
    assert isinstance(event, Closed)
    assert event.reason == "transport error"


def test_invalid_payload_closes_the_session() -> None:
    session = polling_session()
    session.start_poll()
    session.receive_poll("4ok\x1e", 1.0)  # an empty segment
    events = session.events_received()
    assert [type(e) for e in events] == [Closed]


def test_invalid_ws_message_after_a_valid_one_in_a_payload() -> None:
    session = polling_session()
    session.start_poll()
    session.receive_poll("4one\x1e1\x1e4never", 1.0)
    assert session.events_received() == [
        MessageReceived("one"),
        Closed("transport close", "closed by the server"),
    ]


# -- closing ----------------------------------------------------------------------------


def test_local_close_over_polling_flushes_then_sends_close() -> None:
    session = polling_session()
    assert session.start_poll()
    session.send("bye")
    session.close()
    assert session.events_received() == [Closed("forced close", "")]
    assert session.state is ClientSessionState.CLOSED
    assert not session.start_poll()
    assert session.start_post() == "4bye\x1e1"
    session.close()  # idempotent
    assert session.events_received() == []


def test_local_close_waits_for_the_post_in_flight() -> None:
    session = polling_session()
    session.send("a")
    assert session.start_post() == "4a"
    session.close()
    assert session.start_post() is None
    session.post_done(1.0)
    assert session.start_post() == "1"


def test_local_close_over_websocket() -> None:
    session = websocket_session()
    session.send("bye")
    session.close()
    assert session.websocket_to_send() == ["4bye", "1"]
    assert session.events_received() == [Closed("forced close", "")]


def test_close_while_opening_sends_nothing() -> None:
    session = ClientSession(0.0)
    session.start_poll()
    session.close()
    assert session.start_post() is None
    assert session.events_received() == [Closed("forced close", "")]


def test_server_close_packet() -> None:
    session = websocket_session()
    session.receive_websocket("1", 1.0)
    assert session.events_received() == [Closed("transport close", "closed by the server")]
    session.receive_websocket("4late", 1.0)
    assert session.events_received() == []


def test_transport_failures() -> None:
    session = polling_session()
    session.start_poll()
    session.transport_failed(POLLING, 1.0, detail="HTTP 400")
    assert session.events_received() == [Closed("transport error", "HTTP 400")]

    session = websocket_session()
    session.transport_failed(WEBSOCKET, 1.0, reason="transport close", detail="code 1006")
    assert session.events_received() == [Closed("transport close", "code 1006")]
    session.transport_failed(WEBSOCKET, 1.0)  # already closed: nothing more
    assert session.events_received() == []


def test_late_polling_failure_after_close_is_ignored() -> None:
    session = polling_session()
    session.close()
    session.events_received()
    session.transport_failed(POLLING, 1.0)
    assert session.events_received() == []


# -- upgrade ----------------------------------------------------------------------------


def upgrade_to_probe(session: ClientSession, now: float = 1.0) -> None:
    assert session.start_probe()
    assert not session.start_probe()
    assert session.state is ClientSessionState.PROBING
    session.websocket_opened(now)
    assert session.websocket_to_send() == ["2probe"]


def test_upgrade_sequence() -> None:
    session = polling_session()
    assert session.start_poll()  # a GET is held by the server
    upgrade_to_probe(session)
    session.send("during probe")  # polling still carries the session
    assert session.start_post() == "4during probe"
    session.receive_websocket("3probe", 1.1)
    assert session.state is ClientSessionState.PAUSING
    session.send("while paused")
    assert session.start_post() is None  # paused: waits for the switch
    assert session.websocket_to_send() == []
    session.post_done(1.2)
    assert session.state is ClientSessionState.PAUSING  # the GET is still out
    session.receive_poll("6", 1.3)  # the server ends it with a noop
    assert not session.start_poll()
    assert session.state is ClientSessionState.OPEN
    assert session.transport == WEBSOCKET
    assert session.websocket_to_send() == ["5", "4while paused"]
    assert session.events_received() == [Upgraded("websocket")]
    # the probe socket is now the transport
    session.receive_websocket("2", 2.0)
    session.receive_websocket("4after", 2.0)
    assert session.websocket_to_send() == ["3"]
    assert session.events_received() == [Pinged(), MessageReceived("after")]
    session.send("x")
    assert session.websocket_to_send() == ["4x"]
    assert session.start_post() is None


def test_messages_in_the_last_poll_are_delivered_before_the_switch() -> None:
    session = polling_session()
    session.start_poll()
    upgrade_to_probe(session)
    session.receive_websocket("3probe", 1.0)
    session.receive_poll("4last\x1e2", 1.0)
    assert session.events_received() == [MessageReceived("last"), Pinged(), Upgraded("websocket")]
    assert session.websocket_to_send() == ["5", "3"]  # the pong waited for the new transport


def test_no_upgrade_when_not_offered_or_not_allowed() -> None:
    session = ClientSession(0.0)
    session.start_poll()
    session.receive_poll(open_packet(upgrades=[]), 0.0)
    assert not session.start_probe()
    session = polling_session(upgrade=False)
    assert not session.start_probe()


def test_wrong_probe_reply_fails_the_upgrade_only() -> None:
    session = polling_session()
    session.start_poll()
    upgrade_to_probe(session)
    session.receive_websocket("3nope", 1.0)
    assert session.events_received() == [UpgradeFailed("probe error: unexpected message")]
    assert session.state is ClientSessionState.OPEN
    assert session.transport == POLLING
    session.receive_poll("4still polling", 1.0)
    assert session.events_received() == [MessageReceived("still polling")]


def test_probe_socket_failure_while_paused_resumes_polling() -> None:
    session = polling_session()
    upgrade_to_probe(session)
    session.receive_websocket("3probe", 1.0)
    # no request in flight: the switch happens at once
    assert session.transport == WEBSOCKET
    session = polling_session()
    session.start_poll()
    upgrade_to_probe(session)
    session.receive_websocket("3probe", 1.0)
    session.send("queued")
    session.transport_failed(WEBSOCKET, 1.0, detail="reset")
    assert session.events_received() == [UpgradeFailed("probe error: reset")]
    assert session.state is ClientSessionState.OPEN
    assert session.start_post() == "4queued"
    session.receive_poll("6", 1.1)
    assert session.start_poll()


def test_close_during_upgrade_pause_still_flushes_over_polling() -> None:
    session = polling_session()
    session.start_poll()
    upgrade_to_probe(session)
    session.receive_websocket("3probe", 1.0)
    session.close()
    assert session.start_post() == "1"
    assert session.events_received() == [Closed("forced close", "")]


# -- misuse -----------------------------------------------------------------------------


def test_misuse_raises() -> None:
    with pytest.raises(ValueError):
        ClientSession(0.0, transport="carrier pigeon")
    with pytest.raises(ValueError):
        ClientSession(0.0, open_timeout=0)
    session = polling_session()
    with pytest.raises(RuntimeError):
        session.receive_poll("6", 0.0)  # no GET in flight
    with pytest.raises(RuntimeError):
        session.post_done(0.0)


def test_the_module_does_no_io() -> None:
    tree = ast.parse(Path(client_session_module.__file__).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert not imported & {"asyncio", "socket", "time", "selectors", "threading", "aiohttp"}
