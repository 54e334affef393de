"""encode(): the exact wire forms of the Socket.IO v5 spec and socket.io-parser."""

from __future__ import annotations

import math
from typing import Any

import pytest

from tidings.protocol.socketio import (
    MAX_ACK_ID,
    EncodedPacket,
    JsonSerializer,
    OrjsonSerializer,
    Packet,
    PacketType,
    Serializer,
    encode,
)

T = PacketType
SERIALIZERS: list[Serializer] = [OrjsonSerializer(), JsonSerializer()]

# (packet, wire text) for packets without bytes; from the spec and the brief.
WIRE_FORMS: list[tuple[Packet, str]] = [
    (Packet(T.CONNECT), "0"),
    (Packet(T.CONNECT, "/admin"), "0/admin,"),
    (Packet(T.CONNECT, data={"token": "x"}), '0{"token":"x"}'),
    (
        Packet(T.CONNECT, "/admin", {"sid": "oSO0OpakMV_3jnilAAAA"}),
        '0/admin,{"sid":"oSO0OpakMV_3jnilAAAA"}',
    ),
    (Packet(T.DISCONNECT), "1"),
    (Packet(T.DISCONNECT, "/admin"), "1/admin,"),
    (Packet(T.EVENT, data=["hello", 1]), '2["hello",1]'),
    (Packet(T.EVENT, data=["foo"]), '2["foo"]'),
    (Packet(T.EVENT, "/admin", ["bar"]), '2/admin,["bar"]'),
    (Packet(T.EVENT, data=["hi"], id=12), '212["hi"]'),
    (Packet(T.EVENT, "/admin", ["hi"], 12), '2/admin,12["hi"]'),
    (Packet(T.EVENT, data=["a"], id=0), '20["a"]'),
    (Packet(T.ACK, data=[], id=12), "312[]"),
    (Packet(T.ACK, "/admin", ["ok"], 12), '3/admin,12["ok"]'),
    (Packet(T.ACK, "/admin", ["bar"], 13), '3/admin,13["bar"]'),
    (Packet(T.CONNECT_ERROR, data={"message": "Not authorized"}), '4{"message":"Not authorized"}'),
    (
        Packet(T.CONNECT_ERROR, data={"message": "Not authorized", "data": {"code": 7}}),
        '4{"message":"Not authorized","data":{"code":7}}',
    ),
    (Packet(T.CONNECT_ERROR, "/admin", "legacy"), '4/admin,"legacy"'),
]


@pytest.mark.parametrize("serializer", SERIALIZERS, ids=["orjson", "json"])
@pytest.mark.parametrize(("packet", "text"), WIRE_FORMS, ids=[t for _, t in WIRE_FORMS])
def test_wire_forms(packet: Packet, text: str, serializer: Serializer) -> None:
    assert encode(packet, serializer) == EncodedPacket(text, ())


BINARY_FORMS: list[tuple[Packet, str, tuple[bytes, ...]]] = [
    (
        Packet(T.EVENT, data=["ev", b"\x01\x02"]),
        '51-["ev",{"_placeholder":true,"num":0}]',
        (b"\x01\x02",),
    ),
    (
        Packet(T.EVENT, data=["baz", b"\x01\x02", b"\x03\x04"], namespace="/admin"),
        '52-/admin,["baz",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]',
        (b"\x01\x02", b"\x03\x04"),
    ),
    (
        Packet(T.ACK, "/admin", [b"x", "y"], 12),
        '61-/admin,12[{"_placeholder":true,"num":0},"y"]',
        (b"x",),
    ),
    (
        Packet(T.ACK, data=["bar", b"\x01\x02\x03\x04"], id=15),
        '61-15["bar",{"_placeholder":true,"num":0}]',
        (b"\x01\x02\x03\x04",),
    ),
    (
        Packet(T.EVENT, data=["ev", b""], id=3),
        '51-3["ev",{"_placeholder":true,"num":0}]',
        (b"",),
    ),
]


@pytest.mark.parametrize("serializer", SERIALIZERS, ids=["orjson", "json"])
@pytest.mark.parametrize(
    ("packet", "text", "attachments"), BINARY_FORMS, ids=[t for _, t, _ in BINARY_FORMS]
)
def test_binary_wire_forms(
    packet: Packet, text: str, attachments: tuple[bytes, ...], serializer: Serializer
) -> None:
    assert encode(packet, serializer) == EncodedPacket(text, attachments)


def test_binary_nested_anywhere_numbered_depth_first() -> None:
    data = [
        "upload",
        {"meta": {"parts": [b"p0", {"inner": b"p1"}], "thumb": b"p2"}},
        [[b"p3"]],
        b"p4",
    ]
    encoded = encode(Packet(T.EVENT, data=data), OrjsonSerializer())
    ph = '{{"_placeholder":true,"num":{}}}'.format
    assert encoded.text == (
        f'55-["upload",{{"meta":{{"parts":[{ph(0)},{{"inner":{ph(1)}}}],"thumb":{ph(2)}}}}},'
        f"[[{ph(3)}]],{ph(4)}]"
    )
    assert encoded.attachments == (b"p0", b"p1", b"p2", b"p3", b"p4")


def test_binary_does_not_touch_the_callers_data() -> None:
    inner = {"blob": b"\x00"}
    data = ["ev", inner, [b"\x01"]]
    encode(Packet(T.EVENT, data=data), OrjsonSerializer())
    assert data == ["ev", {"blob": b"\x00"}, [b"\x01"]]
    assert inner["blob"] == b"\x00"


def test_bytearray_and_memoryview_are_copied_to_bytes() -> None:
    buf = bytearray(b"abc")
    view = memoryview(b"xyz")
    encoded = encode(Packet(T.EVENT, data=["ev", buf, view]), OrjsonSerializer())
    buf[0] = ord("Z")
    assert encoded.attachments == (b"abc", b"xyz")
    assert all(type(a) is bytes for a in encoded.attachments)


def test_same_bytes_twice_are_two_attachments() -> None:
    blob = b"same"
    encoded = encode(Packet(T.EVENT, data=["ev", blob, blob]), OrjsonSerializer())
    assert encoded.text.startswith("52-")
    assert encoded.attachments == (blob, blob)


def test_tuple_data_is_an_array() -> None:
    assert encode(Packet(T.EVENT, data=("ev", (1, 2))), OrjsonSerializer()).text == '2["ev",[1,2]]'
    assert encode(Packet(T.ACK, data=(b"x",), id=1), OrjsonSerializer()).text == (
        '61-1[{"_placeholder":true,"num":0}]'
    )


@pytest.mark.parametrize("serializer", SERIALIZERS, ids=["orjson", "json"])
def test_binary_types_given_without_bytes_go_out_plain(serializer: Serializer) -> None:
    assert encode(Packet(T.BINARY_EVENT, data=["ev", 1]), serializer).text == '2["ev",1]'
    assert encode(Packet(T.BINARY_ACK, data=[], id=4), serializer).text == "34[]"


@pytest.mark.parametrize("serializer", SERIALIZERS, ids=["orjson", "json"])
def test_non_finite_floats_become_null(serializer: Serializer) -> None:
    packet = Packet(T.EVENT, data=["f", math.nan, math.inf, -math.inf, 0.5])
    assert encode(packet, serializer).text == '2["f",null,null,null,0.5]'


@pytest.mark.parametrize("serializer", SERIALIZERS, ids=["orjson", "json"])
def test_non_ascii_text_is_written_as_is(serializer: Serializer) -> None:
    assert (
        encode(Packet(T.EVENT, data=["é", "日本", "😀"]), serializer).text == '2["é","日本","😀"]'
    )


MISUSE: list[tuple[Packet, type[Exception], str]] = [
    (Packet(T.EVENT, data=[]), TypeError, "non-empty list"),
    (Packet(T.EVENT, data=None), TypeError, "non-empty list"),
    (Packet(T.EVENT, data="ev"), TypeError, "non-empty list"),
    (Packet(T.EVENT, data=[1, 2]), TypeError, "event name must be a str"),
    (Packet(T.EVENT, data=["disconnect"]), ValueError, "reserved"),
    (Packet(T.EVENT, data=["newListener", 1]), ValueError, "reserved"),
    (Packet(T.ACK, data=["x"]), ValueError, "needs the id"),
    (Packet(T.ACK, data={"a": 1}, id=1), TypeError, "list of arguments"),
    (Packet(T.EVENT, data=["x"], id=-1), ValueError, "ack id"),
    (Packet(T.EVENT, data=["x"], id=True), ValueError, "ack id"),
    (Packet(T.EVENT, data=["x"], id=MAX_ACK_ID + 1), ValueError, "ack id"),
    (Packet(T.ACK, data=[b"x"], id=-1), ValueError, "ack id"),
    (Packet(T.CONNECT, data={"a": 1}, id=1), ValueError, "only EVENT and ACK"),
    (Packet(T.EVENT, "admin", ["x"]), ValueError, "namespace"),
    (Packet(T.EVENT, "/a,b", ["x"]), ValueError, "namespace"),
    (Packet(T.CONNECT, ""), ValueError, "namespace"),
    (Packet(T.EVENT, None, ["x"]), TypeError, "namespace"),  # type: ignore[arg-type]
    (Packet(T.CONNECT, data=["token"]), TypeError, "CONNECT data"),
    (Packet(T.DISCONNECT, data={"a": 1}), TypeError, "no data"),
    (Packet(T.CONNECT_ERROR), TypeError, "CONNECT_ERROR data"),
    (Packet(99), ValueError, "unknown packet type"),  # type: ignore[arg-type]
]


@pytest.mark.parametrize(("packet", "exc", "match"), MISUSE, ids=[repr(p) for p, _, _ in MISUSE])
def test_local_misuse_raises_at_once(packet: Packet, exc: type[Exception], match: str) -> None:
    with pytest.raises(exc, match=match):
        encode(packet, OrjsonSerializer())


@pytest.mark.parametrize("serializer", SERIALIZERS, ids=["orjson", "json"])
@pytest.mark.parametrize(
    "value", [object(), {1, 2}, {"k": object()}], ids=["object", "set", "nested-object"]
)
def test_non_json_values_raise_a_clear_type_error(serializer: Serializer, value: Any) -> None:
    with pytest.raises(TypeError, match="cannot serialize"):
        encode(Packet(T.EVENT, data=["ev", value]), serializer)
    # Bytes beside the culprit do not hide it.
    with pytest.raises(TypeError, match="cannot serialize"):
        encode(Packet(T.EVENT, data=["ev", b"x", value]), serializer)


@pytest.mark.parametrize("serializer", SERIALIZERS, ids=["orjson", "json"])
def test_the_error_names_the_event_and_the_argument(serializer: Serializer) -> None:
    with pytest.raises(TypeError, match=r"argument 3 of event 'news' \(set\)"):
        encode(Packet(T.EVENT, data=["news", 1, b"x", {1, 2}]), serializer)
    with pytest.raises(TypeError, match=r"argument 2 of an ack \(dict\)"):
        encode(Packet(T.ACK, data=["ok", {"when": object()}], id=4), serializer)


def test_cyclic_data_raises_type_error() -> None:
    cyclic: list[Any] = ["ev"]
    cyclic.append(cyclic)
    with pytest.raises(TypeError):
        encode(Packet(T.EVENT, data=cyclic), OrjsonSerializer())
    with_bytes: list[Any] = ["ev", b"x"]
    with_bytes.append(with_bytes)
    with pytest.raises(TypeError):
        encode(Packet(T.EVENT, data=with_bytes), OrjsonSerializer())


def test_packet_is_frozen() -> None:
    packet = Packet(T.EVENT, data=["x"])
    with pytest.raises(AttributeError):
        packet.id = 3  # type: ignore[misc]
    assert not hasattr(packet, "__dict__")
