"""Any byte stream yields events or a close with a protocol code, never an exception,
and how the stream is cut into reads never changes the outcome."""

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.protocol.websocket.wsclient import client_frame
from tidings.protocol.websocket import (
    BinaryMessage,
    Closed,
    Ping,
    Pong,
    ServerConnection,
    TextMessage,
    WebSocketState,
)

PROTOCOL_CODES = {1002, 1007, 1009}


def run(
    chunks: list[bytes], max_message_size: int = 200
) -> tuple[list[object], bytes, WebSocketState]:
    conn = ServerConnection(max_message_size=max_message_size)
    events: list[object] = []
    for chunk in chunks:
        conn.receive_data(chunk)
        events.extend(conn.events_received())
    return events, b"".join(conn.data_to_send()), conn.state


def check_outcome(events: list[object], state: WebSocketState) -> None:
    for event in events:
        assert isinstance(event, (TextMessage, BinaryMessage, Ping, Pong, Closed))
    closes = [e for e in events if isinstance(e, Closed)]
    assert len(closes) <= 1
    if closes:
        assert events[-1] is closes[0]
        assert state is WebSocketState.CLOSED
        code = closes[0].code
        assert code in PROTOCOL_CODES or 1000 <= code <= 4999


@settings(max_examples=400, deadline=None)
@given(st.lists(st.binary(max_size=64), max_size=12))
def test_random_bytes_never_raise(chunks: list[bytes]) -> None:
    events, _, state = run(chunks)
    check_outcome(events, state)


frame_strategy = st.builds(
    client_frame,
    opcode=st.sampled_from([0, 1, 2, 8, 9, 10, 3, 0xB]),
    payload=st.one_of(
        st.text(max_size=40).map(str.encode),
        st.binary(max_size=140),
        st.sampled_from([b"\x03\xe8", b"\x03\xe8ok", b"\x03\xed", b"\x0b\xb8\xff", b"\x03"]),
    ),
    fin=st.booleans(),
    rsv=st.sampled_from([0, 0, 0, 0, 1, 4]),
    masked=st.sampled_from([True, True, True, True, False]),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(frame_strategy, max_size=8), st.data())
def test_frame_streams_are_independent_of_chunking(
    frames: list[bytes], data: st.DataObject
) -> None:
    stream = b"".join(frames)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    chunks = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    whole = run([stream])
    split = run(chunks)
    check_outcome(*whole[::2])
    assert whole == split
