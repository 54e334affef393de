import struct

import pytest

from tests.protocol.websocket.wsclient import client_frame, close_payload
from tidings.protocol.websocket import (
    BinaryMessage,
    Closed,
    InvalidState,
    Opcode,
    Ping,
    Pong,
    ServerConnection,
    TextMessage,
    WebSocketState,
    encode_close,
    encode_frame,
)


def feed(conn: ServerConnection, data: bytes, *, bytewise: bool = False) -> list[object]:
    if bytewise:
        for i in range(len(data)):
            conn.receive_data(data[i : i + 1])
    else:
        conn.receive_data(data)
    return list(conn.events_received())


def sent(conn: ServerConnection) -> bytes:
    return b"".join(conn.data_to_send())


def assert_failed(conn: ServerConnection, code: int) -> None:
    events = conn.events_received()
    assert events and isinstance(events[-1], Closed)
    assert events[-1].code == code
    assert conn.state is WebSocketState.CLOSED
    assert conn.error is not None and conn.error.code == code
    assert sent(conn) == encode_close(code)


@pytest.mark.parametrize("bytewise", [False, True])
def test_text_and_binary_messages(bytewise: bool) -> None:
    conn = ServerConnection()
    data = client_frame(Opcode.TEXT, "héllo".encode()) + client_frame(Opcode.BINARY, b"\x00\xff")
    assert feed(conn, data, bytewise=bytewise) == [TextMessage("héllo"), BinaryMessage(b"\x00\xff")]
    assert conn.state is WebSocketState.OPEN
    assert sent(conn) == b""


def test_empty_messages() -> None:
    conn = ServerConnection()
    data = client_frame(Opcode.TEXT) + client_frame(Opcode.BINARY)
    data += client_frame(Opcode.TEXT, fin=False) + client_frame(Opcode.CONT)
    assert feed(conn, data) == [TextMessage(""), BinaryMessage(b""), TextMessage("")]


@pytest.mark.parametrize(
    ("n", "chunk"),
    [
        (n, c)
        for n in (125, 126, 65535, 65536, 300_000)
        for c in (None, 1000, 7)
        if c != 7 or n < 70000
    ],
)
def test_large_messages_any_chunking(n: int, chunk: int | None) -> None:
    payload = bytes(range(256)) * (n // 256) + bytes(n % 256)
    data = client_frame(Opcode.BINARY, payload)
    conn = ServerConnection(max_message_size=1 << 20)
    if chunk is None:
        conn.receive_data(data)
    else:
        for i in range(0, len(data), chunk):
            conn.receive_data(data[i : i + chunk])
    assert conn.events_received() == [BinaryMessage(payload)]


def test_fragmented_text_with_interleaved_control_frames() -> None:
    conn = ServerConnection()
    text = "κόσμε and more"
    raw = text.encode()
    data = (
        client_frame(Opcode.TEXT, raw[:1], fin=False)  # splits a 2-byte character
        + client_frame(Opcode.PING, b"p1")
        + client_frame(Opcode.CONT, raw[1:5], fin=False)
        + client_frame(Opcode.PONG, b"p2")
        + client_frame(Opcode.CONT, raw[5:])
    )
    for bytewise in (False, True):
        conn = ServerConnection()
        events = feed(conn, data, bytewise=bytewise)
        assert events == [Ping(b"p1"), Pong(b"p2"), TextMessage(text)]
        assert sent(conn) == encode_frame(Opcode.PONG, b"p1")


def test_ping_is_answered_with_same_payload() -> None:
    conn = ServerConnection()
    payload = bytes(range(125))
    assert feed(conn, client_frame(Opcode.PING, payload)) == [Ping(payload)]
    assert sent(conn) == encode_frame(Opcode.PONG, payload)


def test_unmasked_frame_fails_1002() -> None:
    conn = ServerConnection()
    conn.receive_data(client_frame(Opcode.TEXT, b"hi", masked=False))
    assert_failed(conn, 1002)


@pytest.mark.parametrize("rsv", [1, 2, 4, 7])
def test_reserved_bits_fail_1002(rsv: int) -> None:
    conn = ServerConnection()
    conn.receive_data(client_frame(Opcode.TEXT, b"hi", rsv=rsv))
    assert_failed(conn, 1002)


@pytest.mark.parametrize("opcode", [3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF])
def test_reserved_opcodes_fail_1002(opcode: int) -> None:
    conn = ServerConnection()
    # a valid message first: it is delivered, then the bad frame fails the connection
    conn.receive_data(client_frame(Opcode.TEXT, b"ok") + client_frame(opcode, b""))
    events = conn.events_received()
    assert events[0] == TextMessage("ok")
    assert isinstance(events[1], Closed) and events[1].code == 1002
    assert sent(conn) == encode_close(1002)


def test_control_frame_too_long_fails_1002() -> None:
    conn = ServerConnection()
    conn.receive_data(client_frame(Opcode.PING, b"x" * 126))
    assert_failed(conn, 1002)


def test_fragmented_control_frame_fails_1002() -> None:
    conn = ServerConnection()
    conn.receive_data(client_frame(Opcode.PING, b"x", fin=False))
    assert_failed(conn, 1002)


def test_continuation_without_start_fails_1002() -> None:
    conn = ServerConnection()
    conn.receive_data(client_frame(Opcode.CONT, b"x"))
    assert_failed(conn, 1002)


def test_new_message_during_fragmentation_fails_1002() -> None:
    conn = ServerConnection()
    conn.receive_data(
        client_frame(Opcode.TEXT, b"a", fin=False) + client_frame(Opcode.BINARY, b"b")
    )
    assert_failed(conn, 1002)


def test_huge_64bit_length_fails_1002() -> None:
    conn = ServerConnection()
    conn.receive_data(b"\x82\xff" + struct.pack("!Q", 1 << 63) + b"MASK")
    assert_failed(conn, 1002)


def test_invalid_utf8_single_frame_fails_1007() -> None:
    conn = ServerConnection()
    conn.receive_data(client_frame(Opcode.TEXT, b"\xce\xba\xff"))
    assert_failed(conn, 1007)


def test_invalid_utf8_fails_fast_across_fragments() -> None:
    conn = ServerConnection()
    # Autobahn 6.4.1: the second fragment holds a code point above U+10FFFF; no final frame needed.
    conn.receive_data(client_frame(Opcode.TEXT, "κόσμε".encode(), fin=False))
    assert conn.events_received() == []
    conn.receive_data(client_frame(Opcode.CONT, b"\xf4\x90\x80\x80", fin=False))
    assert_failed(conn, 1007)


def test_invalid_utf8_fails_fast_inside_one_frame() -> None:
    conn = ServerConnection()
    payload = "κόσμε".encode() + b"\xf4\x90\x80\x80" + b"edited"
    frame = client_frame(Opcode.TEXT, payload)
    # Deliver only the header and the bytes up to the invalid sequence.
    conn.receive_data(frame[: 6 + len("κόσμε".encode()) + 2])
    assert_failed(conn, 1007)


def test_truncated_utf8_at_end_of_message_fails_1007() -> None:
    conn = ServerConnection()
    conn.receive_data(
        client_frame(Opcode.TEXT, b"\xce", fin=False) + client_frame(Opcode.CONT, b"")
    )
    assert_failed(conn, 1007)


def test_max_message_size_checked_at_the_header() -> None:
    conn = ServerConnection(max_message_size=100)
    frame = client_frame(Opcode.BINARY, b"x" * 101)
    conn.receive_data(frame[:8])  # header only: refused before any payload
    assert_failed(conn, 1009)


def test_max_message_size_across_fragments() -> None:
    conn = ServerConnection(max_message_size=100)
    conn.receive_data(client_frame(Opcode.TEXT, b"x" * 60, fin=False))
    assert conn.state is WebSocketState.OPEN
    conn.receive_data(client_frame(Opcode.CONT, b"x" * 41))
    assert_failed(conn, 1009)
    ok = ServerConnection(max_message_size=100)
    ok.receive_data(
        client_frame(Opcode.TEXT, b"x" * 60, fin=False) + client_frame(Opcode.CONT, b"x" * 40)
    )
    assert ok.events_received() == [TextMessage("x" * 100)]


def test_peer_close_is_echoed() -> None:
    conn = ServerConnection()
    conn.receive_data(client_frame(Opcode.CLOSE, close_payload(1001, "bye")))
    assert conn.events_received() == [Closed(1001, "bye")]
    assert sent(conn) == encode_close(1001)
    assert conn.state is WebSocketState.CLOSED and conn.close_expected()
    assert conn.close_received == (1001, "bye")
    conn.receive_data(client_frame(Opcode.TEXT, b"late"))
    assert conn.events_received() == []


def test_empty_close_reports_1005_and_echoes_empty() -> None:
    conn = ServerConnection()
    conn.receive_data(client_frame(Opcode.CLOSE))
    assert conn.events_received() == [Closed(1005, "")]
    assert sent(conn) == b"\x88\x00"


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000])
def test_invalid_close_code_fails_1002(code: int) -> None:
    conn = ServerConnection()
    conn.receive_data(client_frame(Opcode.CLOSE, close_payload(code)))
    assert_failed(conn, 1002)


def test_one_byte_close_fails_1002() -> None:
    conn = ServerConnection()
    conn.receive_data(client_frame(Opcode.CLOSE, b"\x03"))
    assert_failed(conn, 1002)


def test_invalid_utf8_close_reason_fails_1007() -> None:
    conn = ServerConnection()
    conn.receive_data(client_frame(Opcode.CLOSE, b"\x03\xe8\xff\xfe"))
    assert_failed(conn, 1007)


def test_server_initiated_close_handshake() -> None:
    conn = ServerConnection()
    conn.send_text("last")
    conn.close(1001, "going")
    assert conn.state is WebSocketState.CLOSING
    assert sent(conn) == encode_frame(Opcode.TEXT, b"last") + encode_close(1001, "going")
    conn.close()  # idempotent
    assert sent(conn) == b""
    with pytest.raises(InvalidState):
        conn.send_text("after close")
    # data and pings after our close are read but not delivered nor answered
    conn.receive_data(client_frame(Opcode.TEXT, b"ignored") + client_frame(Opcode.PING, b"p"))
    assert conn.events_received() == [Ping(b"p")]
    assert sent(conn) == b""
    conn.receive_data(client_frame(Opcode.CLOSE, close_payload(1001)))
    assert conn.events_received() == [Closed(1001, "")]
    assert conn.state is WebSocketState.CLOSED
    assert sent(conn) == b""  # no second close frame


def test_protocol_error_while_closing_sends_nothing_more() -> None:
    conn = ServerConnection()
    conn.close()
    sent(conn)
    conn.receive_data(client_frame(Opcode.TEXT, b"x", masked=False))
    events = conn.events_received()
    assert isinstance(events[-1], Closed) and events[-1].code == 1002
    assert sent(conn) == b""


def test_eof_reports_1006_once() -> None:
    conn = ServerConnection()
    conn.receive_eof()
    conn.receive_eof()
    assert conn.events_received() == [Closed(1006, "")]
    assert conn.state is WebSocketState.CLOSED


def test_abort_reports_given_code() -> None:
    conn = ServerConnection()
    conn.close()
    conn.abort(1006, "close timeout")
    assert conn.events_received() == [Closed(1006, "close timeout")]
    conn.receive_eof()
    assert conn.events_received() == []


def test_sends_and_pending_count() -> None:
    conn = ServerConnection()
    conn.send_text("é")
    conn.send_bytes(b"\x01")
    conn.send_frames(b"\x81\x01a\x81\x01b")
    conn.send_ping(b"hb")
    expected = [
        b"\x81\x02\xc3\xa9",
        b"\x82\x01\x01",
        b"\x81\x01a\x81\x01b",
        b"\x89\x02hb",
    ]
    assert conn.bytes_pending == sum(map(len, expected))
    assert conn.data_to_send() == expected
    assert conn.bytes_pending == 0
    with pytest.raises(ValueError):
        conn.send_ping(b"x" * 126)
    with pytest.raises(ValueError):
        ServerConnection(max_message_size=0)


def test_close_validates_code_before_changing_state() -> None:
    conn = ServerConnection()
    with pytest.raises(ValueError):
        conn.close(1005)
    assert conn.state is WebSocketState.OPEN
