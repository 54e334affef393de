"""Fuzz targets: each takes any bytes and feeds them to one decoder of ours.

A target fails (raises) only when the code under test does something it must never do
with hostile input: raise an exception other than its documented error, or break one of
its own invariants. Run by ``scripts/fuzz`` (coverage-guided, for as long as asked), and
briefly, plus a replay of the kept corpus, by the test command (tests/fuzz/test_fuzz.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from tidings.engine.io import parse_query
from tidings.protocol.engineio import POLLING, WEBSOCKET
from tidings.protocol.engineio.packets import EngineIOError, decode_packet, decode_payload
from tidings.protocol.engineio.session import ServerSession, SessionConfig
from tidings.protocol.socketio import DecodeError, Decoder, DecoderLimits, OrjsonSerializer
from tidings.protocol.websocket.connection import ServerConnection
from tidings.protocol.websocket.handshake import HandshakeError, validate_upgrade

Target = Callable[[bytes], None]


def chunks(data: bytes) -> Iterator[tuple[bool, bytes]]:
    """Split one input into messages: a length byte, a kind bit, then that many bytes.
    (The fuzzer learns the framing, so one input drives a whole conversation.)"""
    i = 0
    while i < len(data):
        head = data[i]
        size = head >> 1
        yield bool(head & 1), data[i + 1 : i + 1 + size]
        i += 1 + size


def socketio_decoder(data: bytes) -> None:
    """Text packets and binary attachments in any order, with small limits so that the
    limit paths are reached too."""
    decoder = Decoder(
        OrjsonSerializer(),
        DecoderLimits(max_attachments=4, max_depth=8, max_ack_id=1_000_000),
    )
    for binary, chunk in chunks(data):
        try:
            packet = decoder.receive(chunk if binary else chunk.decode("utf-8", "replace"))
        except DecodeError:
            decoder.reset()
            continue
        if packet is not None:
            assert decoder.awaiting_attachments == 0


def engineio_session(data: bytes) -> None:
    """A polling session fed POST bodies and WebSocket messages; errors are answers or a
    close, never exceptions."""
    now = 0.0
    session = ServerSession("s", SessionConfig(max_payload=4096, max_buffered_bytes=8192), now,
                            transport=POLLING)
    for binary, chunk in chunks(data):
        now += 0.5
        if binary:
            session.receive_post(chunk, now)
        else:
            if session.state.name == "OPEN" and session.transport == POLLING and chunk[:1] == b"u":
                session.start_upgrade(now)
            session.receive_websocket(chunk.decode("utf-8", "replace"), now)
        session.events_received()
        session.data_to_send()
        if session.poll_ready:
            session.take_poll_response()
        session.handle_timer(now)


def engineio_packets(data: bytes) -> None:
    for binary, chunk in chunks(data):
        try:
            if binary:
                decode_packet(chunk)
            else:
                text = chunk.decode("utf-8", "replace")
                decode_packet(text)
                decode_payload(text)
        except EngineIOError:
            pass


def websocket_frames(data: bytes) -> None:
    """Bytes from a client in any cut; a violation is a close with a code, never an exception."""
    connection = ServerConnection(max_message_size=4096, max_fragments=16)
    for _, chunk in chunks(data):
        connection.receive_data(chunk)
        for _event in connection.events_received():
            pass
        connection.data_to_send()
        if connection.error is not None:
            assert connection.close_sent is not None
            break
    assert connection.bytes_pending >= 0


def http_request_parts(data: bytes) -> None:
    """What the HTTP fronts read of a request themselves: the query string and the upgrade
    headers."""
    text = data.decode("latin-1")
    query, _, rest = text.partition("\n")
    parse_query(query)
    headers: dict[str, str] = {}
    for line in rest.split("\n"):
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    try:
        validate_upgrade("GET", headers)
    except HandshakeError:
        pass


TARGETS: dict[str, Target] = {
    "socketio": socketio_decoder,
    "engineio-session": engineio_session,
    "engineio-packets": engineio_packets,
    "websocket": websocket_frames,
    "http": http_request_parts,
}

__all__ = ["TARGETS", "WEBSOCKET"]
