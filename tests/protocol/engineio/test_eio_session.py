"""The server session on bytes, time passed in: no loop, no sockets."""

from __future__ import annotations

import orjson
import pytest

from tidings.protocol.engineio import (
    Closed,
    ErrorCode,
    MessageReceived,
    RequestError,
    ServerSession,
    ServerSessionState,
    SessionConfig,
    Upgraded,
    UpgradeFailed,
)

CONFIG = SessionConfig(
    ping_interval=25.0,
    ping_timeout=20.0,
    max_payload=1000,
    upgrade_timeout=10.0,
    max_buffered_bytes=10_000,
)
T0 = 1000.0


def polling(now: float = T0, config: SessionConfig = CONFIG) -> ServerSession:
    session = ServerSession("sid-polling-00000000", config, now)
    assert isinstance(session.receive_poll(now), str)  # the handshake
    return session


def websocket(now: float = T0) -> ServerSession:
    session = ServerSession("sid-websocket-000000", CONFIG, now, transport="websocket")
    assert session.data_to_send()[0].startswith("0")  # type: ignore[union-attr]
    return session


def closed_reasons(session: ServerSession) -> list[str]:
    return [e.reason for e in session.events_received() if isinstance(e, Closed)]


# -- handshake -----------------------------------------------------------------------------


def test_polling_handshake_is_the_first_poll_body() -> None:
    session = ServerSession("abcdefghijklmnopqrst", CONFIG, T0)
    body = session.receive_poll(T0)
    assert isinstance(body, str) and body.startswith("0")
    assert orjson.loads(body[1:]) == {
        "sid": "abcdefghijklmnopqrst",
        "upgrades": ["websocket"],
        "pingInterval": 25000,
        "pingTimeout": 20000,
        "maxPayload": 1000,
    }
    assert session.state is ServerSessionState.OPEN and session.transport == "polling"


def test_websocket_handshake_offers_no_upgrade() -> None:
    session = ServerSession("abcdefghijklmnopqrst", CONFIG, T0, transport="websocket")
    (opening,) = session.data_to_send()
    assert isinstance(opening, str)
    assert orjson.loads(opening[1:])["upgrades"] == []
    assert session.websocket_writable


def test_no_upgrades_when_disabled() -> None:
    config = SessionConfig(upgrades=())
    body = ServerSession("s" * 20, config, T0).receive_poll(T0)
    assert isinstance(body, str)
    assert orjson.loads(body[1:])["upgrades"] == []


# -- long-polling exchange -----------------------------------------------------------------


def test_post_delivers_messages_and_poll_returns_queued_packets() -> None:
    session = polling()
    assert session.receive_post(b"4hello\x1ebAQIDBA==", T0) is None
    assert session.events_received() == [
        MessageReceived("hello"),
        MessageReceived(b"\x01\x02\x03\x04"),
    ]
    session.send("hello")
    session.send(b"\x01\x02\x03\x04")
    assert session.receive_poll(T0) == "4hello\x1ebAQIDBA=="
    assert session.buffered_bytes == 0


def test_held_poll_is_released_with_everything_sent_meanwhile() -> None:
    session = polling()
    assert session.receive_poll(T0) is None
    assert session.poll_held and not session.poll_ready
    session.send("a")
    session.send("b")
    assert session.poll_ready
    assert session.take_poll_response() == "4a\x1e4b"
    assert not session.poll_held


def test_concurrent_poll_closes_the_session() -> None:
    session = polling()
    assert session.receive_poll(T0) is None
    refused = session.receive_poll(T0)
    assert isinstance(refused, RequestError) and refused.status == 400
    assert closed_reasons(session) == ["transport error"]
    assert session.state is ServerSessionState.CLOSED
    assert session.take_poll_response() == "1"  # the first poll learns of the close


def test_abandoned_poll_is_a_transport_error() -> None:
    session = polling()
    session.receive_poll(T0)
    session.poll_aborted(T0 + 1)
    assert closed_reasons(session) == ["transport error"]


def test_payload_too_large_is_refused_without_closing() -> None:
    session = polling()
    refused = session.receive_post(b"4" + b"x" * 1000, T0)
    assert isinstance(refused, RequestError) and refused.status == 413
    assert session.state is ServerSessionState.OPEN
    assert session.events_received() == []


@pytest.mark.parametrize("body", [b"abc", b"", b"4ok\x1e9", b"\xff\xfe", b"bnot-base64!"])
def test_invalid_payload_is_a_parse_error(body: bytes) -> None:
    session = polling()
    refused = session.receive_post(body, T0)
    assert isinstance(refused, RequestError) and refused.code is ErrorCode.BAD_REQUEST
    assert closed_reasons(session) == ["parse error"]


def test_outgoing_buffer_limit_closes_the_session() -> None:
    session = polling()
    session.send("x" * 5_000)
    assert session.state is ServerSessionState.OPEN
    session.send("x" * 5_001)
    assert closed_reasons(session) == ["transport error"]
    assert session.buffered_bytes == 0


def test_ping_from_client_is_a_protocol_error() -> None:
    session = polling()
    session.receive_post(b"2", T0)
    assert closed_reasons(session) == ["transport error"]


# -- heartbeat -----------------------------------------------------------------------------


def test_heartbeat_over_polling() -> None:
    session = polling()
    assert session.next_deadline() == T0 + 25
    session.handle_timer(T0 + 24.9)
    assert session.receive_poll(T0 + 24.9) is None  # nothing yet: the poll is held
    session.handle_timer(T0 + 25)
    assert session.take_poll_response() == "2"
    assert session.next_deadline() == T0 + 45
    session.receive_post(b"3", T0 + 26)
    assert session.next_deadline() == T0 + 51
    session.handle_timer(T0 + 45)
    assert session.state is ServerSessionState.OPEN


def test_ping_timeout_when_no_pong() -> None:
    session = polling()
    session.handle_timer(T0 + 25)
    session.handle_timer(T0 + 44.99)
    assert session.state is ServerSessionState.OPEN
    session.handle_timer(T0 + 45)
    assert closed_reasons(session) == ["ping timeout"]
    assert session.next_deadline() is None


def test_heartbeat_over_websocket() -> None:
    session = websocket()
    session.handle_timer(T0 + 25)
    assert session.data_to_send() == ["2"]
    session.receive_websocket("3", T0 + 25.1)
    session.handle_timer(T0 + 45)
    assert session.state is ServerSessionState.OPEN
    assert session.next_deadline() == pytest.approx(T0 + 50.1)


# -- upgrade -------------------------------------------------------------------------------


def test_whole_upgrade_from_polling_to_websocket() -> None:
    session = polling()
    assert session.receive_poll(T0) is None  # the client's pending GET
    assert session.start_upgrade(T0 + 1)
    assert session.state is ServerSessionState.UPGRADING
    assert not session.poll_ready
    session.receive_websocket("2probe", T0 + 1)
    assert session.data_to_send() == ["3probe"]
    assert session.take_poll_response() == "6"  # NOOP ends the held poll
    session.send("queued")
    session.send(b"\x00")
    assert session.receive_poll(T0 + 1) == "4queued\x1ebAA=="  # a poll during upgrade still drains
    session.send("after")
    session.receive_websocket("5", T0 + 2)
    assert session.events_received() == [Upgraded()]
    assert session.transport == "websocket" and session.state is ServerSessionState.OPEN
    assert session.data_to_send() == ["4after"]  # buffered packets flushed over WebSocket
    refused = session.receive_poll(T0 + 2)
    assert isinstance(refused, RequestError) and refused.code is ErrorCode.BAD_REQUEST
    session.receive_websocket("4hello", T0 + 3)
    session.receive_websocket(b"\x01", T0 + 3)
    assert session.events_received() == [MessageReceived("hello"), MessageReceived(b"\x01")]
    session.send(b"\x02")
    assert session.data_to_send() == [b"\x02"]
    assert not session.start_upgrade(T0 + 4)


def test_poll_arriving_after_probe_gets_noop() -> None:
    session = polling()
    session.start_upgrade(T0)
    session.receive_websocket("2probe", T0)
    assert session.receive_poll(T0) == "6"


def test_held_poll_released_when_upgrade_completes_without_probe() -> None:
    session = polling()
    session.receive_poll(T0)
    session.start_upgrade(T0)
    session.receive_websocket("5", T0)
    assert session.take_poll_response() == "6"


def test_upgrade_timeout_abandons_the_upgrade() -> None:
    session = polling()
    session.start_upgrade(T0)
    assert session.next_deadline() == T0 + 10
    session.handle_timer(T0 + 10)
    assert session.close_websocket_requested()
    assert not session.close_websocket_requested()  # requested once
    assert [type(e) for e in session.events_received()] == [UpgradeFailed]
    assert session.state is ServerSessionState.OPEN and session.transport == "polling"
    assert session.start_upgrade(T0 + 11)  # a later attempt may succeed


def test_unexpected_packet_during_upgrade_abandons_it() -> None:
    session = polling()
    session.start_upgrade(T0)
    session.receive_websocket("4too early", T0)
    assert session.close_websocket_requested()
    assert session.state is ServerSessionState.OPEN
    assert not any(isinstance(e, MessageReceived) for e in session.events_received())


def test_probe_websocket_closing_abandons_upgrade() -> None:
    session = polling()
    session.start_upgrade(T0)
    session.websocket_closed(T0, 1006)
    assert session.state is ServerSessionState.OPEN
    assert not session.close_websocket_requested()


def test_only_one_upgrade_at_a_time() -> None:
    session = polling()
    assert session.start_upgrade(T0)
    assert not session.start_upgrade(T0)


# -- closing -------------------------------------------------------------------------------


def test_client_close_over_polling_releases_held_poll_with_noop() -> None:
    session = polling()
    session.receive_poll(T0)
    assert session.receive_post(b"1", T0) is None
    assert closed_reasons(session) == ["transport close"]
    assert session.take_poll_response() == "6"


def test_client_close_over_websocket() -> None:
    session = websocket()
    session.receive_websocket("1", T0)
    assert closed_reasons(session) == ["transport close"]
    assert session.close_websocket_requested()


def test_server_close_over_polling_drains_then_sends_close() -> None:
    session = polling()
    session.send("last words")
    session.close(T0, "forced close")
    assert session.state is ServerSessionState.CLOSING
    session.send("dropped")
    assert session.events_received() == []
    assert session.receive_poll(T0 + 1) == "4last words"
    assert session.events_received() == []
    assert session.receive_poll(T0 + 1) == "1"  # the close in a body of its own
    assert closed_reasons(session) == ["forced close"]


def test_server_close_with_held_poll() -> None:
    session = polling()
    session.receive_poll(T0)
    session.close(T0, "server shutting down")
    assert session.take_poll_response() == "1"
    assert closed_reasons(session) == ["server shutting down"]


def test_server_close_times_out_without_a_poll() -> None:
    session = polling()
    session.close(T0)
    assert session.next_deadline() == T0 + 20
    session.handle_timer(T0 + 20)
    assert closed_reasons(session) == ["forced close"]


def test_server_close_over_websocket() -> None:
    session = websocket()
    session.close(T0, "server shutting down")
    assert closed_reasons(session) == ["server shutting down"]
    assert session.close_websocket_requested()


def test_server_close_during_upgrade_closes_the_probe() -> None:
    session = polling()
    session.start_upgrade(T0)
    session.close(T0)
    assert session.close_websocket_requested()
    assert session.state is ServerSessionState.CLOSING


def test_parse_error_over_websocket() -> None:
    session = websocket()
    session.receive_websocket("abc", T0)
    assert closed_reasons(session) == ["parse error"]
    assert session.close_websocket_requested()


def test_oversized_websocket_message_is_a_transport_error() -> None:
    session = websocket()
    session.receive_websocket("4" + "x" * 1000, T0)
    assert closed_reasons(session) == ["transport error"]


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (1000, "transport close"),
        (1006, "transport close"),
        (1002, "transport error"),
        (1009, "transport error"),
    ],
)
def test_websocket_going_away(code: int, reason: str) -> None:
    session = websocket()
    session.websocket_closed(T0, code)
    assert closed_reasons(session) == [reason]
    assert not session.close_websocket_requested()


def test_closed_session_ignores_input_and_closes_once() -> None:
    session = websocket()
    session.abort("transport error", "test")
    assert closed_reasons(session) == ["transport error"]
    session.receive_websocket("4late", T0)
    session.close(T0)
    session.handle_timer(T0 + 100)
    session.abort("transport error")
    assert session.events_received() == []
    assert session.next_deadline() is None


def test_local_misuse_raises() -> None:
    session = polling()
    with pytest.raises(RuntimeError):
        session.take_poll_response()
    with pytest.raises(TypeError):
        session.send(42)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        ServerSession("x" * 20, CONFIG, T0, transport="carrier-pigeon")


def test_pong_deadline_counts_from_when_the_ping_was_due() -> None:
    session = polling()
    session.handle_timer(T0 + 25.5)  # the timer ran half a second late
    assert session.next_deadline() == T0 + 45
    stalled = polling()
    stalled.handle_timer(T0 + 60)  # far too late: the client still gets half the timeout
    assert stalled.next_deadline() == T0 + 70


def test_inputs_see_deadlines_that_passed_before_them() -> None:
    session = polling()
    session.handle_timer(T0 + 25)  # ping sent; no pong
    refused = session.receive_poll(T0 + 45.001)  # arrives before the timer fired
    assert isinstance(refused, RequestError) and refused.code is ErrorCode.UNKNOWN_SID
    assert closed_reasons(session) == ["ping timeout"]
    due = polling()
    assert due.receive_poll(T0 + 25) == "2"  # a ping due is sent to the poll that finds it


def test_server_close_after_the_probe_waits_for_the_upgrade() -> None:
    # The client pauses polling once it has "3probe": only the WebSocket reaches it now.
    session = polling()
    assert session.receive_poll(T0) is None
    session.start_upgrade(T0)
    session.receive_websocket("2probe", T0)
    assert session.data_to_send() == ["3probe"]
    session.send("before")
    assert session.take_poll_response() == "4before"  # the held poll: the client pauses
    session.send("queued")
    session.close(T0, "server shutting down")
    session.send("dropped")  # the session is closing
    assert not session.close_websocket_requested()
    assert session.state is ServerSessionState.UPGRADING
    session.receive_websocket("5", T0 + 1)
    assert session.data_to_send() == ["4queued"]
    assert session.close_websocket_requested()
    assert [type(e) for e in session.events_received()] == [Upgraded, Closed]
    assert session.close_reason == "server shutting down"


@pytest.mark.parametrize("ending", ["probe closed", "upgrade timeout"])
def test_server_close_after_the_probe_falls_back_to_polling(ending: str) -> None:
    session = polling()
    session.start_upgrade(T0)
    session.receive_websocket("2probe", T0)
    session.close(T0, "server shutting down")
    session.close(T0, "a second reason")  # the first one stands
    if ending == "probe closed":
        session.websocket_closed(T0 + 1, 1006)
    else:
        session.handle_timer(T0 + 10)
        assert session.close_websocket_requested()
    assert session.state is ServerSessionState.CLOSING
    assert session.receive_poll(T0 + 11) == "1"  # no ping queued before it
    assert closed_reasons(session) == ["server shutting down"]


def test_poll_body_of_compress_false_packets_alone_is_not_compressible() -> None:
    session = polling()
    plain = [("4plain", "4plain")]
    session.send_encoded(plain, 6, compress=False)
    assert session.receive_poll(T0) == "4plain" and not session.poll_compressible
    session.send_encoded(plain, 6, compress=False)
    session.send("compressed")  # Node: one packet that may be compressed is enough
    assert session.receive_poll(T0) == "4plain\x1e4compressed" and session.poll_compressible
    session.send_encoded(plain, 6, compress=False)
    assert session.poll_compressible
    assert session.receive_poll(T0) == "4plain" and not session.poll_compressible
    assert session.receive_poll(T0) is None  # held: nothing to answer yet
    session.close(T0)
    assert session.take_poll_response() == "1" and session.poll_compressible


def test_a_session_whose_close_waits_for_the_upgrade_is_closing_meanwhile() -> None:
    config = SessionConfig(ping_interval=1.0, ping_timeout=5.0, upgrade_timeout=10.0)
    session = polling(config=config)
    session.start_upgrade(T0)
    session.receive_websocket("2probe", T0)
    session.close(T0, "server shutting down")
    assert session.receive_post(b"4late", T0) is None  # answered, and ignored as Node does
    session.handle_timer(T0 + 2)  # no ping while closing
    assert session.receive_poll(T0 + 2) == "6"
    assert not any(isinstance(e, MessageReceived) for e in session.events_received())
    session.receive_post(b"1", T0 + 3)  # the client's CLOSE: the server's reason stands
    assert closed_reasons(session) == ["server shutting down"]
    assert session.close_websocket_requested()
