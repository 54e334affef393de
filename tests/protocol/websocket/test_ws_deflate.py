"""permessage-deflate (RFC 7692): negotiation, RSV1 on receive, bounded inflation, both ways'
context takeover, and the once-per-broadcast compressed frames."""

from __future__ import annotations

import zlib

import pytest

from tests.protocol.websocket.wsclient import client_frame
from tidings.protocol.prepared import PreparedMessage
from tidings.protocol.websocket import BinaryMessage, Closed, Opcode, ServerConnection, TextMessage
from tidings.protocol.websocket.deflate import (
    DeflateOptions,
    Deflater,
    Inflater,
    PerMessageDeflate,
    encode_compressed_frame,
    negotiate,
    parse_offers,
)

OPTS = DeflateOptions()


def deflate(data: bytes, c: Deflater | None = None, wbits: int = 15) -> bytes:
    """A client's compressed message body: sync-flushed, the 4-byte tail removed."""
    c = c or zlib.compressobj(wbits=-wbits)
    out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(b"\x00\x00\xff\xff")
    return out[:-4]


def inflate(body: bytes, d: Inflater | None = None) -> bytes:
    d = d or zlib.decompressobj(-15)
    return d.decompress(body + b"\x00\x00\xff\xff")


def conn_with(header: str = "permessage-deflate", options: DeflateOptions = OPTS, size: int = 1_000_000) -> ServerConnection:
    agreement = negotiate(header, options)
    assert agreement is not None
    return ServerConnection(size, deflate=PerMessageDeflate(agreement, options))


# -- negotiation ---------------------------------------------------------------


def test_plain_offer_is_accepted_with_a_bare_response() -> None:
    agreement = negotiate("permessage-deflate", OPTS)
    assert agreement is not None
    assert agreement.response == "permessage-deflate"
    assert not agreement.server_no_context_takeover
    assert agreement.server_max_window_bits == 15


def test_browser_offer_client_max_window_bits_without_value() -> None:
    agreement = negotiate("permessage-deflate; client_max_window_bits", OPTS)
    assert agreement is not None
    assert agreement.response == "permessage-deflate"
    assert agreement.client_max_window_bits == 15


def test_no_offer_or_other_extension_means_no_compression() -> None:
    assert negotiate(None, OPTS) is None
    assert negotiate("", OPTS) is None
    assert negotiate("x-webkit-deflate-frame", OPTS) is None


@pytest.mark.parametrize(
    "bad",
    [
        "permessage-deflate; unknown_param",
        "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
        "permessage-deflate; server_no_context_takeover=1",
        "permessage-deflate; server_max_window_bits",
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; server_max_window_bits=07",
        "permessage-deflate; server_max_window_bits=8",  # zlib cannot deflate with 256 bytes
        "permessage-deflate; client_max_window_bits=7",
        "permessage-deflate; client_max_window_bits=abc",
    ],
)
def test_invalid_offers_are_declined_not_errors(bad: str) -> None:
    assert negotiate(bad, OPTS) is None


def test_first_acceptable_offer_wins() -> None:
    header = (
        "permessage-deflate; bogus, "
        'permessage-deflate; server_no_context_takeover; server_max_window_bits="10", '
        "permessage-deflate"
    )
    assert len(parse_offers(header)) == 3
    agreement = negotiate(header, OPTS)
    assert agreement is not None
    assert agreement.server_no_context_takeover
    assert agreement.server_max_window_bits == 10
    assert agreement.response == (
        "permessage-deflate; server_no_context_takeover; server_max_window_bits=10"
    )


def test_server_options_shape_the_response() -> None:
    options = DeflateOptions(
        server_no_context_takeover=True, client_no_context_takeover=True, server_max_window_bits=12
    )
    agreement = negotiate("permessage-deflate; client_max_window_bits", options)
    assert agreement is not None
    assert agreement.response == (
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
        "server_max_window_bits=12"
    )


def test_client_window_needs_the_client_to_offer_it() -> None:
    options = DeflateOptions(client_max_window_bits=10)
    assert negotiate("permessage-deflate", options) is None
    agreement = negotiate("permessage-deflate; client_max_window_bits", options)
    assert agreement is not None and agreement.client_max_window_bits == 10
    assert agreement.response == "permessage-deflate; client_max_window_bits=10"


def test_options_are_checked() -> None:
    with pytest.raises(ValueError):
        DeflateOptions(server_max_window_bits=8)
    with pytest.raises(ValueError):
        DeflateOptions(level=10)
    with pytest.raises(ValueError):
        DeflateOptions(threshold=-1)


# -- receiving -------------------------------------------------------------------


def test_compressed_text_message_is_inflated() -> None:
    conn = conn_with()
    text = "héllo " * 500
    conn.receive_data(client_frame(Opcode.TEXT, deflate(text.encode()), rsv=4))
    assert conn.events_received() == [TextMessage(text)]


def test_compressed_fragmented_message_rsv1_on_first_frame_only() -> None:
    conn = conn_with()
    body = deflate(b"\x00\x01" * 3000)
    half = len(body) // 2
    data = client_frame(Opcode.BINARY, body[:half], fin=False, rsv=4) + client_frame(
        Opcode.CONT, body[half:]
    )
    for i in range(0, len(data), 7):  # bytewise-ish: inflation goes as bytes arrive
        conn.receive_data(data[i : i + 7])
    assert conn.events_received() == [BinaryMessage(b"\x00\x01" * 3000)]


def test_rsv1_on_a_continuation_frame_fails_with_1002() -> None:
    conn = conn_with()
    body = deflate(b"abc" * 100)
    conn.receive_data(client_frame(Opcode.TEXT, body[:5], fin=False, rsv=4))
    conn.receive_data(client_frame(Opcode.CONT, body[5:], rsv=4))
    (event,) = conn.events_received()
    assert isinstance(event, Closed) and event.code == 1002


def test_rsv1_on_a_control_frame_fails_with_1002() -> None:
    conn = conn_with()
    conn.receive_data(client_frame(Opcode.PING, b"x", rsv=4))
    (event,) = conn.events_received()
    assert isinstance(event, Closed) and event.code == 1002


def test_rsv1_without_negotiation_fails_with_1002() -> None:
    conn = ServerConnection(1_000_000)
    conn.receive_data(client_frame(Opcode.TEXT, deflate(b"hello"), rsv=4))
    (event,) = conn.events_received()
    assert isinstance(event, Closed) and event.code == 1002


@pytest.mark.parametrize("rsv", [2, 1, 6])
def test_other_reserved_bits_still_fail(rsv: int) -> None:
    conn = conn_with()
    conn.receive_data(client_frame(Opcode.TEXT, b"hi", rsv=rsv))
    (event,) = conn.events_received()
    assert isinstance(event, Closed) and event.code == 1002


def test_uncompressed_messages_still_pass_on_a_deflate_connection() -> None:
    conn = conn_with()
    conn.receive_data(client_frame(Opcode.TEXT, b"plain") + client_frame(Opcode.BINARY, b"\x01"))
    assert conn.events_received() == [TextMessage("plain"), BinaryMessage(b"\x01")]


def test_decompression_bomb_fails_with_1009_within_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    conn = conn_with(size=100_000)
    bomb = deflate(b"\x00" * 50_000_000)  # ~50 KB on the wire, 50 MB inflated
    assert len(bomb) < 100_000
    asked: list[int] = []
    real = zlib.decompressobj

    class Spy:
        def __init__(self, inner: Inflater) -> None:
            self.inner = inner
            self.eof = False

        def decompress(self, data: bytes, max_length: int = 0) -> bytes:
            asked.append(max_length)
            out = self.inner.decompress(data, max_length)
            assert len(out) <= 100_001
            return out

    monkeypatch.setattr(zlib, "decompressobj", lambda *a: Spy(real(*a)))
    conn.receive_data(client_frame(Opcode.BINARY, bomb, rsv=4))
    (event,) = conn.events_received()
    assert isinstance(event, Closed) and event.code == 1009
    assert asked and all(0 < n <= 100_001 for n in asked)


def test_invalid_utf8_inside_compressed_text_fails_with_1007() -> None:
    conn = conn_with()
    conn.receive_data(client_frame(Opcode.TEXT, deflate(b"ok \xff\xfe"), rsv=4))
    (event,) = conn.events_received()
    assert isinstance(event, Closed) and event.code == 1007


def test_garbage_deflate_data_fails_the_connection() -> None:
    conn = conn_with()
    conn.receive_data(client_frame(Opcode.BINARY, b"\xff\xff\xff\xff\xff", rsv=4))
    (event,) = conn.events_received()
    assert isinstance(event, Closed) and event.code == 1007


def test_client_context_takeover_is_honoured() -> None:
    conn = conn_with()
    c = zlib.compressobj(wbits=-15)
    first, second = b"a shared dictionary of words " * 40, b"a shared dictionary of words " * 41
    conn.receive_data(client_frame(Opcode.BINARY, deflate(first, c), rsv=4))
    # The second refers back into the first's window: it decodes only with that context.
    conn.receive_data(client_frame(Opcode.BINARY, deflate(second, c), rsv=4))
    assert conn.events_received() == [BinaryMessage(first), BinaryMessage(second)]


def test_client_no_context_takeover_resets_the_inflater() -> None:
    conn = conn_with("permessage-deflate; client_no_context_takeover")
    for _ in range(3):
        conn.receive_data(client_frame(Opcode.BINARY, deflate(b"xyz" * 500), rsv=4))
    assert conn.events_received() == [BinaryMessage(b"xyz" * 500)] * 3


# -- sending -----------------------------------------------------------------------


def test_server_context_takeover_shrinks_the_second_message() -> None:
    agreement = negotiate("permessage-deflate", OPTS)
    assert agreement is not None
    codec = PerMessageDeflate(agreement, OPTS)
    payload = bytes(range(256)) * 8
    first, second = codec.compress(payload), codec.compress(payload)
    assert len(second) < len(first) // 4  # the second is a back-reference to the first
    d = zlib.decompressobj(-15)
    assert inflate(first, d) == payload and inflate(second, d) == payload


def test_server_no_context_takeover_gives_identical_bodies() -> None:
    agreement = negotiate("permessage-deflate; server_no_context_takeover", OPTS)
    assert agreement is not None
    codec = PerMessageDeflate(agreement, OPTS)
    payload = b"repeat " * 400
    assert codec.compress(payload) == codec.compress(payload)
    assert inflate(codec.compress(payload)) == payload


def test_compressed_frame_sets_rsv1_only() -> None:
    frame = encode_compressed_frame(Opcode.TEXT, b"x" * 200)
    assert frame[0] == 0xC1 and frame[1] == 126


def test_prepared_message_compresses_once_for_all_shared_codecs(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = PerMessageDeflate.compress

    def counting(self: PerMessageDeflate, payload: bytes) -> bytes:
        calls.append(len(payload))
        return real(self, payload)

    monkeypatch.setattr(PerMessageDeflate, "compress", counting)
    agreement = negotiate("permessage-deflate; server_no_context_takeover", OPTS)
    assert agreement is not None
    codecs = [PerMessageDeflate(agreement, OPTS) for _ in range(5)]
    prepared = PreparedMessage(['2["big",' + '"' + "z" * 2048 + '"]', b"\x00" * 10])
    frames = [prepared.deflated_frames(codec) for codec in codecs]
    assert all(f is frames[0] for f in frames)
    assert calls == [len(prepared.ws_payloads[0][1])]  # the small binary part stays plain
    assert frames[0][0] == 0xC1
    assert frames[0].endswith(b"\x82\x0a" + b"\x00" * 10)


def test_connection_sends_compressed_from_the_threshold() -> None:
    conn = conn_with("permessage-deflate; server_no_context_takeover")
    conn.send_text("small")
    conn.send_text("large " * 300)
    small, large = conn.data_to_send()
    assert small[0] == 0x81
    assert large[0] == 0xC1
    assert inflate(large[4:] if large[1] == 126 else large[2:]).decode() == "large " * 300
