"""Decoder: wire forms in, packets out; every bad input is one DecodeError."""

from __future__ import annotations

import pytest

from tidings.protocol.socketio import (
    DecodeError,
    Decoder,
    DecoderLimits,
    JsonSerializer,
    OrjsonSerializer,
    Packet,
    PacketType,
    Serializer,
)

T = PacketType
SERIALIZERS: list[Serializer] = [OrjsonSerializer(), JsonSerializer()]
SERIALIZER_IDS = ["orjson", "json"]

DECODES: list[tuple[str, Packet]] = [
    ("0", Packet(T.CONNECT)),
    ("0/admin,", Packet(T.CONNECT, "/admin")),
    ('0{"token":"x"}', Packet(T.CONNECT, data={"token": "x"})),
    ('0/admin,{"sid":"abc"}', Packet(T.CONNECT, "/admin", {"sid": "abc"})),
    ("1", Packet(T.DISCONNECT)),
    ("1/admin,", Packet(T.DISCONNECT, "/admin")),
    ('2["hello",1]', Packet(T.EVENT, data=["hello", 1])),
    ('212["hi"]', Packet(T.EVENT, data=["hi"], id=12)),
    ('2/admin,12["hi"]', Packet(T.EVENT, "/admin", ["hi"], 12)),
    ('2/admin,["bar"]', Packet(T.EVENT, "/admin", ["bar"])),
    ("312[]", Packet(T.ACK, data=[], id=12)),
    ('3/admin,12["ok"]', Packet(T.ACK, "/admin", ["ok"], 12)),
    (
        '4{"message":"Not authorized","data":{"a":1}}',
        Packet(T.CONNECT_ERROR, data={"message": "Not authorized", "data": {"a": 1}}),
    ),
    ('4"legacy"', Packet(T.CONNECT_ERROR, data="legacy")),
    # Accepted as the reference parser accepts them:
    ("0/admin", Packet(T.CONNECT, "/admin")),  # no comma at the end
    ('2/,["x"]', Packet(T.EVENT, "/", ["x"])),  # "/" spelled out
    ('2007["x"]', Packet(T.EVENT, data=["x"], id=7)),  # leading zeros
    (f'2{2**53 - 1}["x"]', Packet(T.EVENT, data=["x"], id=2**53 - 1)),
    (
        '2["ev",{"_placeholder":true,"num":0}]',
        Packet(T.EVENT, data=["ev", {"_placeholder": True, "num": 0}]),
    ),
    ('2["é 😀"]', Packet(T.EVENT, data=["é 😀"])),
]


@pytest.mark.parametrize("serializer", SERIALIZERS, ids=SERIALIZER_IDS)
@pytest.mark.parametrize(("text", "packet"), DECODES, ids=[t for t, _ in DECODES])
def test_decodes(text: str, packet: Packet, serializer: Serializer) -> None:
    decoder = Decoder(serializer)
    assert decoder.receive(text) == packet
    assert decoder.awaiting_attachments == 0


REJECTS: list[tuple[str, str]] = [
    ("", "empty"),
    ("7", "unknown packet type"),
    ("x", "unknown packet type"),
    (" 2[]", "unknown packet type"),
    ('٢["a"]', "unknown packet type"),  # an Arabic-Indic digit two
    ("2", "without a payload"),
    ("212", "without a payload"),
    ("3/admin,1", "without a payload"),
    ("4", "without a payload"),
    ("2[", "not valid JSON"),
    ("2[NaN]", "not valid JSON"),
    ('2["x"] junk', "not valid JSON"),
    ('2 ["x"]', "invalid payload"),  # the reference reads the space as ack id 0
    ('2"x"', "non-empty array"),
    ("2[]", "non-empty array"),
    ('2{"a":1}', "non-empty array"),
    ("2[1]", "event name must be a string"),
    ('2[["x"]]', "event name must be a string"),
    ('2["connect"]', "reserved"),
    ('2["connect_error"]', "reserved"),
    ('2/admin,["disconnect"]', "reserved"),
    ('2["disconnecting"]', "reserved"),
    ('21["newListener"]', "reserved"),
    ('2["removeListener"]', "reserved"),
    ('3["a"]', "ACK without an id"),
    ("3{}", "ACK payload must be an array"),
    ("31{}", "ACK payload must be an array"),
    ("0[]", "CONNECT payload must be an object"),
    ('0"x"', "CONNECT payload must be an object"),
    ("0null", "invalid payload"),
    ("2x", "invalid payload"),
    ("2-1", "invalid payload"),
    ("0123", "CONNECT with an ack id"),
    ("01{}", "CONNECT with an ack id"),
    ("1{}", "DISCONNECT with a payload"),
    ("1/admin,{}", "DISCONNECT with a payload"),
    ("4[]", "CONNECT_ERROR payload must be an object or a string"),
    ("41{}", "CONNECT_ERROR with an ack id"),
    ('5-["a"]', "invalid attachment count"),
    ('5["a"]', "invalid attachment count"),
    ('5x-["a"]', "invalid attachment count"),
    ('5 1-["a"]', "invalid attachment count"),
    ('5٣-["a"]', "invalid attachment count"),
    ("5", "invalid attachment count"),
    ('50-["a"]', "attachment count out of range"),
    ('511-["a"]', "attachment count out of range"),
    ('5100-["a"]', "invalid attachment count"),
    ("51-[]", "non-empty array"),
    ('51-["connect"]', "reserved"),
    ("61-{}", "ACK payload must be an array"),
    ('61-["a"]', "ACK without an id"),
    ('51-["a",{"_placeholder":true,"num":1}]', "placeholder"),
    ('51-["a",{"_placeholder":true,"num":-1}]', "placeholder"),
    ('51-["a",{"_placeholder":true,"num":true}]', "placeholder"),
    ('51-["a",{"_placeholder":true,"num":"0"}]', "placeholder"),
    ('51-["a",{"_placeholder":true,"num":0.0}]', "placeholder"),
    ('51-["a",{"_placeholder":true}]', "placeholder"),
    ('2123456789012345678["x"]', "ack id too long"),
    (f'2{2**53}["x"]', "ack id too large"),
    ("2/" + "a" * 300 + ',["x"]', "namespace too long"),
]


@pytest.mark.parametrize("serializer", SERIALIZERS, ids=SERIALIZER_IDS)
@pytest.mark.parametrize(("text", "reason"), REJECTS, ids=[t[:40] for t, _ in REJECTS])
def test_rejects(text: str, reason: str, serializer: Serializer) -> None:
    decoder = Decoder(serializer)
    with pytest.raises(DecodeError, match=reason) as info:
        decoder.receive(text)
    assert reason in info.value.reason
    assert decoder.awaiting_attachments == 0


@pytest.mark.parametrize("serializer", SERIALIZERS, ids=SERIALIZER_IDS)
def test_binary_packet_waits_for_its_attachments(serializer: Serializer) -> None:
    decoder = Decoder(serializer)
    text = '52-/admin,7["up",{"a":[{"_placeholder":true,"num":1}]},{"_placeholder":true,"num":0}]'
    assert decoder.receive(text) is None
    assert decoder.awaiting_attachments == 2
    assert decoder.receive(b"zero") is None
    assert decoder.awaiting_attachments == 1
    packet = decoder.receive(bytearray(b"one"))
    assert packet == Packet(T.EVENT, "/admin", ["up", {"a": [b"one"]}, b"zero"], 7)
    assert packet is not None and type(packet.data[2]) is bytes
    assert decoder.awaiting_attachments == 0
    # The decoder is ready for the next packet.
    assert decoder.receive('2["next"]') == Packet(T.EVENT, data=["next"])


def test_binary_ack_comes_back_as_ack() -> None:
    decoder = Decoder(OrjsonSerializer())
    assert decoder.receive('61-15["bar",{"_placeholder":true,"num":0}]') is None
    assert decoder.receive(memoryview(b"\x01\x02")) == Packet(
        T.ACK, data=["bar", b"\x01\x02"], id=15
    )


def test_one_attachment_may_fill_several_placeholders() -> None:
    decoder = Decoder(OrjsonSerializer())
    ph = '{"_placeholder":true,"num":0}'
    assert decoder.receive(f'51-["ev",{ph},[{ph}]]') is None
    assert decoder.receive(b"x") == Packet(T.EVENT, data=["ev", b"x", [b"x"]])


def test_placeholder_with_extra_keys_is_still_a_placeholder() -> None:
    decoder = Decoder(OrjsonSerializer())
    assert decoder.receive('51-["ev",{"num":0,"_placeholder":true,"x":1}]') is None
    assert decoder.receive(b"x") == Packet(T.EVENT, data=["ev", b"x"])


def test_placeholder_must_be_true_not_truthy() -> None:
    decoder = Decoder(OrjsonSerializer())
    assert decoder.receive('51-["ev",{"_placeholder":1,"num":0}]') is None
    assert decoder.receive(b"x") == Packet(T.EVENT, data=["ev", {"_placeholder": 1, "num": 0}])


def test_text_while_attachments_pending_is_rejected_and_state_dropped() -> None:
    decoder = Decoder(OrjsonSerializer())
    assert decoder.receive('51-["ev",{"_placeholder":true,"num":0}]') is None
    with pytest.raises(DecodeError, match="pending"):
        decoder.receive('2["ev"]')
    assert decoder.awaiting_attachments == 0
    with pytest.raises(DecodeError, match="no binary packet"):
        decoder.receive(b"late")


def test_binary_without_a_binary_packet_is_rejected() -> None:
    decoder = Decoder(OrjsonSerializer())
    with pytest.raises(DecodeError, match="no binary packet"):
        decoder.receive(b"\x00")
    assert decoder.receive('2["ok"]') == Packet(T.EVENT, data=["ok"])


def test_reset_drops_a_partial_packet() -> None:
    decoder = Decoder(OrjsonSerializer())
    assert (
        decoder.receive('52-["ev",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]')
        is None
    )
    assert decoder.receive(b"a") is None
    decoder.reset()
    assert decoder.awaiting_attachments == 0
    assert decoder.receive('2["fresh"]') == Packet(T.EVENT, data=["fresh"])


def test_non_str_non_bytes_input_is_local_misuse() -> None:
    decoder = Decoder(OrjsonSerializer())
    with pytest.raises(TypeError, match="expected str or bytes"):
        decoder.receive(42)  # type: ignore[arg-type]


# -- limits ---------------------------------------------------------------------------------


def test_default_limits_are_safe() -> None:
    limits = DecoderLimits()
    assert limits.max_attachments == 10
    assert limits.max_ack_id == 2**53 - 1
    assert 1 <= limits.max_depth <= 64
    assert limits.max_namespace_length <= 1024
    assert Decoder(OrjsonSerializer()).limits == limits


def test_max_attachments() -> None:
    decoder = Decoder(OrjsonSerializer(), DecoderLimits(max_attachments=2))
    ph = ",".join(f'{{"_placeholder":true,"num":{n}}}' for n in range(3))
    with pytest.raises(DecodeError, match="attachment count out of range"):
        decoder.receive(f'53-["ev",{ph}]')
    assert decoder.receive('52-["ev",{"_placeholder":true,"num":1}]') is None


def test_max_attachments_reads_no_more_digits_than_needed() -> None:
    decoder = Decoder(OrjsonSerializer(), DecoderLimits(max_attachments=500))
    with pytest.raises(DecodeError, match="invalid attachment count"):
        decoder.receive("5" + "9" * 10_000 + '-["a"]')
    with pytest.raises(DecodeError, match="out of range"):
        decoder.receive('5501-["a"]')


def test_max_ack_id() -> None:
    decoder = Decoder(OrjsonSerializer(), DecoderLimits(max_ack_id=150))
    assert decoder.receive('2150["x"]') == Packet(T.EVENT, data=["x"], id=150)
    with pytest.raises(DecodeError, match="ack id too large"):
        decoder.receive('2151["x"]')
    with pytest.raises(DecodeError, match="ack id too long"):
        decoder.receive('21000["x"]')
    with pytest.raises(DecodeError, match="ack id too long"):
        decoder.receive("3" + "1" * 100_000 + "[]")


def test_max_depth_bounds_the_placeholder_walk() -> None:
    decoder = Decoder(OrjsonSerializer(), DecoderLimits(max_depth=3))
    ph = '{"_placeholder":true,"num":0}'
    assert decoder.receive(f'51-["ev",[[{ph}]]]') is None  # lists at depths 1, 2, 3
    assert decoder.receive(b"x") == Packet(T.EVENT, data=["ev", [[b"x"]]])
    with pytest.raises(DecodeError, match="nested too deeply"):
        decoder.receive(f'51-["ev",[[[{ph}]]]]')
    with pytest.raises(DecodeError, match="nested too deeply"):
        decoder.receive(f'51-["ev",{ph},{{"a":{{"b":{{"c":1}}}}}}]')


def test_deep_binary_payload_with_default_limits_is_refused_without_recursion() -> None:
    decoder = Decoder(OrjsonSerializer())
    deep = "[" * 1000 + "]" * 1000
    with pytest.raises(DecodeError, match="nested too deeply"):
        decoder.receive(f'51-["ev",{deep}]')


@pytest.mark.parametrize("serializer", SERIALIZERS, ids=SERIALIZER_IDS)
def test_json_nested_beyond_the_parser_is_a_decode_error(serializer: Serializer) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    with pytest.raises(DecodeError, match="not valid JSON"):
        Decoder(serializer).receive(f'2["ev",{deep}]')


def test_max_namespace_length() -> None:
    decoder = Decoder(OrjsonSerializer(), DecoderLimits(max_namespace_length=6))
    assert decoder.receive("0/admin,") == Packet(T.CONNECT, "/admin")
    with pytest.raises(DecodeError, match="namespace too long"):
        decoder.receive("0/admins,")
    with pytest.raises(DecodeError, match="namespace too long"):
        decoder.receive("0/admins")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_attachments": 0},
        {"max_depth": 0},
        {"max_namespace_length": -1},
        {"max_ack_id": -1},
        {"max_attachments": 1.5},
        {"max_depth": True},
    ],
)
def test_limits_are_validated(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="must be a"):
        DecoderLimits(**kwargs)  # type: ignore[arg-type]
