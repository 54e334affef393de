"""What the built-in server writes is what the protocol package frames.

The WebSocket protocol frames data messages itself (``encode_frame``) and
writes a broadcast's ``ws_frames`` as they are; these properties check, on
random payloads, that one turn's sends leave as one write holding exactly
those frames, in order.
"""

from __future__ import annotations

import asyncio
from typing import cast

from hypothesis import given
from hypothesis import strategies as st

from tests.standalone.standalone_helpers import RecordingEngine
from tidings.protocol.prepared import PreparedMessage
from tidings.protocol.websocket import Opcode
from tidings.protocol.websocket.frames import encode_frame
from tidings.standalone import HttpOptions
from tidings.standalone.context import ConnectionContext
from tidings.standalone.websocket_protocol import WebSocketProtocol


class RecordingTransport:
    """The asyncio side only: keeps what the (real) protocol writes."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return 0

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        pass

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass


class SilentListener:
    def on_message(self, data: str | bytes) -> None:
        pass

    def on_close(self, code: int, reason: str) -> None:
        pass


# Sizes around the frame header's length forms: 7 bits, 16 bits, 64 bits.
_sizes = st.sampled_from([0, 1, 125, 126, 127, 65535, 65536, 70000])
_binary = st.one_of(
    st.binary(max_size=300),
    st.tuples(_sizes, st.binary(min_size=1, max_size=1)).map(lambda t: t[1] * t[0]),
)
_text = st.one_of(
    st.text(max_size=200), st.tuples(_sizes, st.characters()).map(lambda t: t[1] * t[0])
)
_parts = st.lists(st.one_of(st.text(max_size=200), _binary), min_size=1, max_size=3)
_sends = st.lists(
    st.one_of(
        st.tuples(st.just("text"), _text),
        st.tuples(st.just("bytes"), _binary),
        st.tuples(st.just("prepared"), _parts),
    ),
    min_size=1,
    max_size=6,
)


def _one_turn(sends: list[tuple[str, object]]) -> tuple[list[bytes], list[bytes]]:
    """(what the protocol wrote at the end of the turn, the frames expected)."""
    loop = asyncio.new_event_loop()
    try:
        context = ConnectionContext(
            loop=loop,
            options=HttpOptions(),
            engine=RecordingEngine(),
            routes=None,
            static=None,
            flush_batch=WebSocketProtocol.flush_batch,
        )
        transport = RecordingTransport()
        ws: WebSocketProtocol[SilentListener] = WebSocketProtocol(
            context, cast(asyncio.Transport, transport), 1000, None
        )
        ws.start(SilentListener(), b"")
        expected: list[bytes] = []
        for kind, value in sends:
            if kind == "text":
                assert isinstance(value, str)
                ws.send_text(value)
                expected.append(encode_frame(Opcode.TEXT, value.encode("utf-8")))
            elif kind == "bytes":
                assert isinstance(value, bytes)
                ws.send_bytes(value)
                expected.append(encode_frame(Opcode.BINARY, value))
            else:
                prepared = PreparedMessage(cast(list[str | bytes], value))
                ws.send_prepared(prepared)
                expected.append(prepared.ws_frames)
        assert transport.writes == []  # nothing leaves before the end of the turn
        loop.run_until_complete(asyncio.sleep(0))
        return transport.writes, expected
    finally:
        loop.close()


@given(_sends)
def test_one_turn_writes_exactly_the_protocol_frames(sends: list[tuple[str, object]]) -> None:
    writes, expected = _one_turn(sends)
    assert writes == [b"".join(expected)]


@given(st.sampled_from(["text", "bytes"]), _binary)
def test_a_single_message_is_written_as_encode_frame_gives_it(kind: str, data: bytes) -> None:
    value: object = data.decode("latin-1") if kind == "text" else data
    writes, expected = _one_turn([(kind, value)])
    assert writes == expected
