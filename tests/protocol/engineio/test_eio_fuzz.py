"""Decoders on arbitrary input: packets or ``EngineIOError``, nothing else."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tidings.protocol.engineio import (
    SEPARATOR,
    EngineIOError,
    Packet,
    PacketType,
    decode_packet,
    decode_payload,
    encode_packet,
    encode_payload,
)

text_without_separator = st.text().filter(lambda s: SEPARATOR not in s)

text_packets = st.builds(Packet, st.sampled_from(list(PacketType)), text_without_separator)
binary_packets = st.builds(lambda b: Packet(PacketType.MESSAGE, b), st.binary())
packets = st.one_of(text_packets, binary_packets)


@given(st.one_of(st.text(), st.binary()))
def test_decode_packet_never_raises_anything_else(data: str | bytes) -> None:
    try:
        packet = decode_packet(data)
    except EngineIOError:
        return
    assert isinstance(packet, Packet)
    assert isinstance(packet.type, PacketType)


@given(st.text())
def test_decode_payload_never_raises_anything_else(text: str) -> None:
    try:
        result = decode_payload(text)
    except EngineIOError:
        return
    assert len(result) == text.count(SEPARATOR) + 1


@given(st.lists(st.sampled_from(["4", "2", "b", "bAA==", "3probe", SEPARATOR, "x", "=", "é"])))
def test_decode_payload_on_near_valid_input(parts: list[str]) -> None:
    try:
        decode_payload("".join(parts))
    except EngineIOError:
        pass


@given(packets)
def test_websocket_encoding_round_trips(packet: Packet) -> None:
    assert decode_packet(encode_packet(packet)) == packet


@given(st.lists(packets, min_size=1))
def test_polling_encoding_round_trips(batch: list[Packet]) -> None:
    assert decode_payload(encode_payload(batch)) == batch
