"""Property tests: the decoder never fails in any way but DecodeError; encode→decode round-trips."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tidings.protocol.socketio import (
    MAX_ACK_ID,
    RESERVED_EVENTS,
    DecodeError,
    Decoder,
    DecoderLimits,
    JsonSerializer,
    OrjsonSerializer,
    Packet,
    PacketType,
    Serializer,
    encode,
)

T = PacketType
serializers = st.sampled_from([OrjsonSerializer(), JsonSerializer()])

# Text that looks like packets, so the fuzz reaches past the first character.
_fragments = st.sampled_from(
    ["0", "1", "2", "3", "4", "5", "6", "1-", "3-", "10-", "/", "/admin", ",", "12", "007",
     "[", "]", "{", "}", '"', '"ev"', ",", ":", "true", "null", '"_placeholder"', '"num"', "0",
     "-1", "1.5", "connect", " ", "\\", "é", "\x00"]
)  # fmt: skip
packet_like = st.lists(_fragments, max_size=30).map("".join)
message = st.one_of(st.text(max_size=80), packet_like, st.binary(max_size=8))


def _feed(decoder: Decoder, messages: list[str | bytes]) -> None:
    for data in messages:
        try:
            result = decoder.receive(data)
        except DecodeError as exc:
            assert exc.reason
            assert decoder.awaiting_attachments == 0
        else:
            assert result is None or isinstance(result, Packet)
            if result is None:
                assert decoder.awaiting_attachments > 0


@settings(max_examples=200, deadline=None)
@given(serializer=serializers, messages=st.lists(message, max_size=8))
def test_any_message_sequence_gives_packets_or_decode_error(
    serializer: Serializer, messages: list[str | bytes]
) -> None:
    _feed(Decoder(serializer), messages)


_placeholder_json = st.integers(-2, 12).map(lambda n: f'{{"_placeholder":true,"num":{n}}}')


@settings(max_examples=100, deadline=None)
@given(
    serializer=serializers,
    count=st.integers(0, 12),
    parts=st.lists(
        st.one_of(_placeholder_json, st.sampled_from(['"a"', "[]", "{}", "1"])), max_size=6
    ),
    attachments=st.lists(st.binary(max_size=4), max_size=12),
)
def test_binary_packets_with_any_placeholders(
    serializer: Serializer, count: int, parts: list[str], attachments: list[bytes]
) -> None:
    text = f'5{count}-["ev"{"".join("," + p for p in parts)}]'
    _feed(Decoder(serializer), [text, *attachments])


# -- round trips ----------------------------------------------------------------------------

_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=12)
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    _text,
    st.binary(max_size=16),
)
json_with_bytes = st.recursive(
    _scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_text, inner, max_size=4)),
    max_leaves=12,
)
namespaces = st.one_of(st.just("/"), _text.filter(lambda s: "," not in s).map(lambda s: "/" + s))
ack_ids = st.one_of(st.none(), st.integers(0, MAX_ACK_ID))
event_names = _text.filter(lambda s: s not in RESERVED_EVENTS)

_events = st.builds(
    lambda nsp, name, args, ack_id: Packet(T.EVENT, nsp, [name, *args], ack_id),
    namespaces,
    event_names,
    st.lists(json_with_bytes, max_size=4),
    ack_ids,
)
_acks = st.builds(
    lambda nsp, args, ack_id: Packet(T.ACK, nsp, args, ack_id),
    namespaces,
    st.lists(json_with_bytes, max_size=4),
    st.integers(0, MAX_ACK_ID),
)
_json_dicts = st.dictionaries(_text, st.one_of(st.none(), st.integers(-5, 5), _text), max_size=3)
_others = st.one_of(
    st.builds(lambda nsp, data: Packet(T.CONNECT, nsp, data), namespaces, st.none() | _json_dicts),
    st.builds(lambda nsp: Packet(T.DISCONNECT, nsp), namespaces),
    st.builds(
        lambda nsp, data: Packet(T.CONNECT_ERROR, nsp, data), namespaces, _text | _json_dicts
    ),
)
packets = st.one_of(_events, _acks, _others)
ROOMY = DecoderLimits(max_attachments=1000, max_depth=100, max_namespace_length=1000)


@settings(max_examples=200, deadline=None)
@given(serializer=serializers, packet=packets)
def test_encode_then_decode_round_trips(serializer: Serializer, packet: Packet) -> None:
    encoded = encode(packet, serializer)
    decoder = Decoder(serializer, ROOMY)
    result = decoder.receive(encoded.text)
    if encoded.attachments:
        assert encoded.text[0] in "56"
        assert result is None
        assert decoder.awaiting_attachments == len(encoded.attachments)
        for attachment in encoded.attachments:
            result = decoder.receive(attachment)
    else:
        assert encoded.text[0] in "01234"
    assert result == packet
    assert decoder.awaiting_attachments == 0


def _count_bytes(obj: Any) -> int:
    if isinstance(obj, bytes):
        return 1
    if isinstance(obj, list):
        return sum(map(_count_bytes, obj))
    if isinstance(obj, dict):
        return sum(map(_count_bytes, obj.values()))
    return 0


@settings(max_examples=50, deadline=None)
@given(packet=_events)
def test_one_attachment_per_bytes_value(packet: Packet) -> None:
    encoded = encode(packet, OrjsonSerializer())
    assert len(encoded.attachments) == _count_bytes(packet.data)
    if encoded.attachments:
        assert encoded.text.startswith(f"5{len(encoded.attachments)}-")
