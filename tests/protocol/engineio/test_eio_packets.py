from __future__ import annotations

import pytest

from tidings.protocol.engineio import (
    EngineIOError,
    Packet,
    PacketType,
    decode_packet,
    decode_payload,
    encode_packet,
    encode_payload,
)


def test_packet_types_match_the_spec() -> None:
    assert [int(t) for t in PacketType] == [0, 1, 2, 3, 4, 5, 6]
    assert PacketType.MESSAGE.name == "MESSAGE"


def test_encode_text_packets_for_websocket() -> None:
    assert encode_packet(Packet(PacketType.MESSAGE, "hello")) == "4hello"
    assert encode_packet(Packet(PacketType.PING, "probe")) == "2probe"
    assert encode_packet(Packet(PacketType.NOOP)) == "6"


def test_binary_message_over_websocket_is_raw_bytes() -> None:
    assert encode_packet(Packet(PacketType.MESSAGE, b"\x01\x02")) == b"\x01\x02"
    assert decode_packet(b"\x01\x02") == Packet(PacketType.MESSAGE, b"\x01\x02")


def test_decode_text_packets() -> None:
    assert decode_packet("4hello") == Packet(PacketType.MESSAGE, "hello")
    assert decode_packet("3") == Packet(PacketType.PONG, "")
    assert decode_packet("bAQIDBA==") == Packet(PacketType.MESSAGE, b"\x01\x02\x03\x04")


@pytest.mark.parametrize("bad", ["", "abc", "7", "x4", "b!!", "b\u00e9"])
def test_decode_packet_rejects_invalid_input(bad: str) -> None:
    with pytest.raises(EngineIOError):
        decode_packet(bad)


def test_payload_round_trip_with_binary() -> None:
    packets = [Packet(PacketType.MESSAGE, "hello"), Packet(PacketType.MESSAGE, b"\x01\x02\x03\x04")]
    text = encode_payload(packets)
    assert text == "4hello\x1ebAQIDBA=="
    assert decode_payload(text) == packets


def test_payload_of_several_text_packets() -> None:
    assert decode_payload("4test1\x1e4test2\x1e2") == [
        Packet(PacketType.MESSAGE, "test1"),
        Packet(PacketType.MESSAGE, "test2"),
        Packet(PacketType.PING),
    ]


@pytest.mark.parametrize("bad", ["", "4a\x1e", "4a\x1ezz", "\x1e4a"])
def test_decode_payload_rejects_any_invalid_segment(bad: str) -> None:
    with pytest.raises(EngineIOError):
        decode_payload(bad)


def test_local_misuse_raises_at_once() -> None:
    with pytest.raises(ValueError):
        Packet(PacketType.PING, b"binary ping")
    with pytest.raises(TypeError):
        Packet(4, "not an enum")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Packet(PacketType.MESSAGE, 42)  # type: ignore[arg-type]


def test_packets_are_frozen() -> None:
    packet = Packet(PacketType.MESSAGE, "x")
    with pytest.raises(AttributeError):
        packet.data = "y"  # type: ignore[misc]
