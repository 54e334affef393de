"""Every short path of the WebSocket core gives what its general path gives.

Frame writers: ``encode_frame``, ``ServerConnection.send_*`` and
``PreparedMessage.ws_frames`` must produce frames that a reading by the RFC
6455 rules, and the package's own parser, take back as the same opcode, fin
and payload. Reader: a small whole masked frame is unmasked inline; fed one
byte at a time the same frame goes through the masker, and both must yield
the same events, replies and errors.
"""

from __future__ import annotations

import struct

from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.protocol.websocket.wsclient import client_frame
from tidings.protocol.prepared import PreparedMessage
from tidings.protocol.websocket import (
    BinaryMessage,
    Closed,
    Opcode,
    ServerConnection,
    TextMessage,
    WebSocketState,
    apply_mask,
    encode_frame,
)

# -- frame writers ------------------------------------------------------------------------

Frame = tuple[bool, int, bytes]  # fin, opcode, payload


def read_server_frames(data: bytes) -> list[Frame]:
    """Frames as RFC 6455 section 5.2 lays them out, checked strictly (server side: unmasked,
    no reserved bits, the shortest length encoding)."""
    frames: list[Frame] = []
    pos = 0
    while pos < len(data):
        b0, b1 = data[pos], data[pos + 1]
        assert b0 & 0x70 == 0, "reserved bits set"
        assert b1 & 0x80 == 0, "a server frame is never masked"
        length = b1 & 0x7F
        pos += 2
        if length == 126:
            (length,) = struct.unpack_from("!H", data, pos)
            assert length >= 126, "16-bit length used for a short payload"
            pos += 2
        elif length == 127:
            (length,) = struct.unpack_from("!Q", data, pos)
            assert 65536 <= length < 2**63, "64-bit length used for a shorter payload"
            pos += 8
        payload = data[pos : pos + length]
        assert len(payload) == length, "frame cut short"
        pos += length
        frames.append((bool(b0 & 0x80), b0 & 0x0F, payload))
    return frames


def parse_as_peer(data: bytes) -> list[object]:
    """The same bytes masked as a client would send them, read by the package's own parser."""
    stream = b"".join(
        client_frame(opcode, payload, fin=fin, mask=b"\x0f\xa5\x5a\xf0")
        for fin, opcode, payload in read_server_frames(data)
    )
    conn = ServerConnection(max_message_size=2**20)
    conn.receive_data(stream)
    return conn.events_received()


# Sizes around the length encodings' limits, and anything small.
_sizes = st.one_of(
    st.integers(0, 300), st.sampled_from([125, 126, 127, 65535, 65536, 65537, 70000])
)
payloads = st.binary(max_size=300)
big_payloads = st.builds(
    lambda n, fill: fill * n, _sizes, st.sampled_from([b"a", b"\x00", b"\xff"])
)
texts = st.one_of(
    st.text(max_size=200),
    st.builds(lambda n, c: c * n, _sizes, st.sampled_from(["a", "é", "\U0001f600"])),
)


@settings(max_examples=300, deadline=None)
@given(
    opcode=st.sampled_from(list(Opcode)),
    payload=st.one_of(payloads, big_payloads),
    fin=st.booleans(),
)
def test_encode_frame_reads_back(opcode: Opcode, payload: bytes, fin: bool) -> None:
    assert read_server_frames(encode_frame(opcode, payload, fin)) == [(fin, int(opcode), payload)]


@settings(max_examples=200, deadline=None)
@given(messages=st.lists(st.one_of(texts, st.one_of(payloads, big_payloads)), max_size=5))
@example(messages=["x" * 125, "x" * 126, b"y" * 65535, b"y" * 65536])
def test_send_text_and_send_bytes_read_back(messages: list[str | bytes]) -> None:
    conn = ServerConnection()
    for message in messages:
        if isinstance(message, str):
            conn.send_text(message)
        else:
            conn.send_bytes(message)
    pending = conn.bytes_pending
    data = b"".join(conn.data_to_send())
    assert pending == len(data)
    assert read_server_frames(data) == [
        (True, 1, m.encode()) if isinstance(m, str) else (True, 2, m) for m in messages
    ]
    assert parse_as_peer(data) == [
        TextMessage(m) if isinstance(m, str) else BinaryMessage(m) for m in messages
    ]
    for message in messages:  # the one writer: the bytes are encode_frame's
        conn.send_bytes(message) if isinstance(message, bytes) else conn.send_text(message)
    assert b"".join(conn.data_to_send()) == b"".join(
        encode_frame(2, m) if isinstance(m, bytes) else encode_frame(1, m.encode())
        for m in messages
    )


@settings(max_examples=200, deadline=None)
@given(parts=st.lists(st.one_of(texts, st.one_of(payloads, big_payloads)), max_size=5))
def test_prepared_message_frames_read_back(parts: list[str | bytes]) -> None:
    prepared = PreparedMessage(parts)
    expected_frames = [
        (True, 1, ("4" + p).encode()) if isinstance(p, str) else (True, 2, p) for p in parts
    ]
    assert read_server_frames(prepared.ws_frames) == expected_frames
    assert parse_as_peer(prepared.ws_frames) == [
        TextMessage("4" + p) if isinstance(p, str) else BinaryMessage(p) for p in parts
    ]
    # What a connection writes for the same messages one by one is the same bytes.
    conn = ServerConnection()
    for message in prepared.ws_messages:
        conn.send_text(message) if isinstance(message, str) else conn.send_bytes(message)
    assert b"".join(conn.data_to_send()) == prepared.ws_frames


# -- the inline unmask of small whole frames ----------------------------------------------


class CountingMasker:
    """``apply_mask``, counting its calls: the general path unmasks through it."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, data: bytes, mask: bytes, offset: int = 0) -> bytes:
        self.calls += 1
        return apply_mask(data, mask, offset)


Outcome = tuple[list[object], bytes, WebSocketState, int | None, object, object]


def run(
    before: list[bytes],
    after: list[bytes] | None = None,
    *,
    max_message_size: int = 1000,
    masker: CountingMasker | None = None,
) -> Outcome:
    """Feed ``before``; if ``after`` is given, start the close handshake, then feed it."""
    conn = (
        ServerConnection(max_message_size)
        if masker is None
        else ServerConnection(max_message_size, masker=masker)
    )
    events: list[object] = []
    for chunk in before:
        conn.receive_data(chunk)
        events.extend(conn.events_received())
    if after is not None:
        conn.close(1000, "bye")
        for chunk in after:
            conn.receive_data(chunk)
            events.extend(conn.events_received())
    error = conn.error.code if conn.error is not None else None
    out = b"".join(conn.data_to_send())
    return events, out, conn.state, error, conn.close_sent, conn.close_received


_utf8_or_not = st.one_of(
    st.text(max_size=40).map(str.encode),
    st.binary(max_size=40),
    st.sampled_from([b"\xc3", b"\xc3\xa9", b"\xed\xa0\x80", b"\xf0\x9f\x98", b"a\xff"]),
)
masks = st.binary(min_size=4, max_size=4)
small_frames = st.builds(
    lambda opcode, payload, fin, mask: client_frame(opcode, payload, fin=fin, mask=mask),
    opcode=st.sampled_from([1, 1, 2, 2, 0, 9, 10, 8]),
    payload=st.one_of(_utf8_or_not, st.binary(min_size=100, max_size=140)),
    fin=st.sampled_from([True, True, True, False]),
    mask=masks,
)


def _bytewise(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


def _cuts(stream: bytes, data: st.DataObject) -> list[bytes]:
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=8)))
    return [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]


@settings(max_examples=500, deadline=None)
@given(
    frames=st.lists(small_frames, min_size=1, max_size=6),
    max_message_size=st.sampled_from([1, 5, 40, 125, 1000]),
    close_at=st.one_of(st.none(), st.integers(0, 6)),
    data=st.data(),
)
def test_inline_unmask_equals_the_masker_path(
    frames: list[bytes], max_message_size: int, close_at: int | None, data: st.DataObject
) -> None:
    """Whole, the small frames are unmasked inline; byte by byte, each payload byte goes
    through the masker; cut anywhere, a mix. ``close_at``: a local close before that frame."""
    at = len(frames) if close_at is None else close_at
    head, tail = b"".join(frames[:at]), b"".join(frames[at:])
    closing = close_at is not None
    whole = run([head], [tail] if closing else None, max_message_size=max_message_size)
    general = run(
        _bytewise(head),
        _bytewise(tail) if closing else None,
        max_message_size=max_message_size,
        masker=CountingMasker(),
    )
    assert whole == general
    mixed = run(
        _cuts(head, data), _cuts(tail, data) if closing else None, max_message_size=max_message_size
    )
    assert mixed == whole


@example(frame=client_frame(1, b"\xff"))
@example(frame=client_frame(1, b"\xc3"))
@given(frame=small_frames)
def test_data_after_a_local_close_is_discarded_alike(frame: bytes) -> None:
    """After our close frame, data frames are dropped unread, invalid UTF-8 included."""
    whole = run([], [frame])
    assert whole == run([], _bytewise(frame), masker=CountingMasker())
    assert not any(isinstance(e, (TextMessage, BinaryMessage)) for e in whole[0])


def test_both_paths_are_taken() -> None:
    """The comparison above is between two paths: a small whole frame never reaches the
    masker, the same frame read byte by byte goes through it for every payload byte."""
    frame = client_frame(1, "héllo".encode(), mask=b"\x01\x02\x03\x04")
    inline, general = CountingMasker(), CountingMasker()
    fast_conn = ServerConnection(masker=inline)
    fast_conn.receive_data(frame)
    slow_conn = ServerConnection(masker=general)
    for i in range(len(frame)):
        slow_conn.receive_data(frame[i : i + 1])
    assert fast_conn.events_received() == slow_conn.events_received() == [TextMessage("héllo")]
    assert inline.calls == 0
    assert general.calls == len("héllo".encode())


@settings(max_examples=300, deadline=None)
@given(
    messages=st.lists(st.one_of(st.text(max_size=60), st.binary(max_size=60)), max_size=6),
    mask=masks,
    data=st.data(),
)
def test_valid_small_messages_read_as_sent(
    messages: list[str | bytes], mask: bytes, data: st.DataObject
) -> None:
    """Against an independent model: whole unfragmented messages come back as they were sent."""
    stream = b"".join(
        client_frame(1, m.encode(), mask=mask) if isinstance(m, str) else client_frame(2, m, mask=mask)
        for m in messages
    )  # fmt: skip
    expected = [TextMessage(m) if isinstance(m, str) else BinaryMessage(m) for m in messages]
    for chunks in ([stream], _cuts(stream, data)):
        events, out, state, error, _, _ = run(chunks)
        assert events == expected
        assert (out, state, error) == (b"", WebSocketState.OPEN, None)
    assert not any(isinstance(e, Closed) for e in expected)
