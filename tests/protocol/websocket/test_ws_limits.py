"""Limits of the Sans-I/O connection against a peer that fragments on purpose (issue 14)."""

from __future__ import annotations

import tracemalloc

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.protocol.websocket.wsclient import client_frame
from tidings.protocol.websocket import (
    DEFAULT_MAX_FRAGMENTS,
    BinaryMessage,
    CloseCode,
    Closed,
    Opcode,
    ServerConnection,
    TextMessage,
    WebSocketState,
    encode_close,
)


def fragments(opcode: int, payload: bytes, sizes: list[int] | None = None) -> list[bytes]:
    """``payload`` as frames of the given sizes (1 byte each by default)."""
    if sizes is None:
        sizes = [1] * len(payload)
    frames, pos = [], 0
    for i, size in enumerate(sizes):
        last = i == len(sizes) - 1
        chunk = payload[pos:] if last else payload[pos : pos + size]
        frames.append(client_frame(opcode if i == 0 else Opcode.CONT, chunk, fin=last))
        pos += len(chunk)
    return frames


def feed_in_chunks(conn: ServerConnection, data: bytes, chunk: int = 4096) -> None:
    for i in range(0, len(data), chunk):
        conn.receive_data(data[i : i + chunk])


def growth_while_feeding(conn: ServerConnection, data: bytes) -> int:
    """Bytes the connection holds (tracemalloc) after reading ``data``, which stays alive."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        feed_in_chunks(conn, data)
        return tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


N = 50_000  # 1-byte fragments; one bytes object each would hold about 50 bytes apiece


@pytest.mark.parametrize("opcode", [Opcode.BINARY, Opcode.TEXT])
def test_one_byte_fragments_are_held_in_one_buffer(opcode: int) -> None:
    payload = b"ab" * (N // 2) if opcode == Opcode.BINARY else "é".encode() * (N // 2)
    frames = fragments(opcode, payload)
    conn = ServerConnection(max_message_size=N)
    grown = growth_while_feeding(conn, b"".join(frames[:-1]))
    assert conn.events_received() == []
    assert grown < 2 * N + 16_384, grown  # the payload, a bytearray's slack, one read left over
    conn.receive_data(frames[-1])
    expected = TextMessage(payload.decode()) if opcode == Opcode.TEXT else BinaryMessage(payload)
    assert conn.events_received() == [expected]


def test_invalid_utf8_fails_at_the_fragment_that_carries_it() -> None:
    conn = ServerConnection()
    conn.receive_data(client_frame(Opcode.TEXT, "é".encode()[:1], fin=False))
    conn.receive_data(client_frame(Opcode.CONT, b"a", fin=False))  # no end yet: fails now
    events = conn.events_received()
    assert isinstance(events[-1], Closed) and events[-1].code == CloseCode.INVALID_DATA
    assert b"".join(conn.data_to_send()) == encode_close(CloseCode.INVALID_DATA)


@pytest.mark.parametrize("opcode", [Opcode.BINARY, Opcode.TEXT])
def test_fragments_beyond_the_cap_close_with_1008(opcode: int) -> None:
    conn = ServerConnection(max_fragments=10)
    conn.receive_data(b"".join(fragments(opcode, b"x" * 10)))
    assert conn.events_received() == [
        TextMessage("x" * 10) if opcode == Opcode.TEXT else BinaryMessage(b"x" * 10)
    ]
    twelve = fragments(opcode, b"x" * 12)
    conn.receive_data(b"".join(twelve[:11]))  # the 11th frame is not the last: fails at it
    events = conn.events_received()
    assert len(events) == 1 and isinstance(events[0], Closed)
    assert events[0].code == CloseCode.POLICY_VIOLATION
    assert conn.state is WebSocketState.CLOSED
    assert b"".join(conn.data_to_send()) == encode_close(CloseCode.POLICY_VIOLATION)


def test_fragment_cap_counts_empty_frames_and_defaults_to_a_safe_value() -> None:
    assert ServerConnection().max_fragments == DEFAULT_MAX_FRAGMENTS <= 100_000
    conn = ServerConnection(max_fragments=3)
    conn.receive_data(b"".join(fragments(Opcode.BINARY, b"", [0, 0, 0, 0])))
    events = conn.events_received()
    assert isinstance(events[-1], Closed) and events[-1].code == CloseCode.POLICY_VIOLATION
    with pytest.raises(ValueError):
        ServerConnection(max_fragments=0)


@given(
    text=st.text(max_size=200),
    cuts=st.lists(st.integers(min_value=0, max_value=8), min_size=1, max_size=40),
    chunk=st.integers(min_value=1, max_value=64),
)
def test_a_fragmented_text_is_the_unfragmented_one(text: str, cuts: list[int], chunk: int) -> None:
    """Fragment boundaries anywhere, even inside a character, and reads of any size."""
    payload = text.encode()
    whole = ServerConnection()
    whole.receive_data(client_frame(Opcode.TEXT, payload))
    split = ServerConnection()
    feed_in_chunks(split, b"".join(fragments(Opcode.TEXT, payload, cuts)), chunk)
    assert split.events_received() == whole.events_received() == [TextMessage(text)]
