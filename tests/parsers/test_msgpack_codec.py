"""The msgpack parser on bytes: notepack.io's very bytes, round trips, and what it refuses.

socket.io-msgpack-parser (tests/parsers/node/oracle.mjs) is the oracle: what tidings writes
is what it writes for the same packet, and each side reads the other's messages.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
import subprocess
from pathlib import Path
from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tidings.protocol.socketio import DecodeError, DecoderLimits, Packet, PacketType
from tidings.protocol.socketio.msgpack_parser import MsgpackDecoder, MsgpackParser
from tidings.protocol.socketio.notepack import AmbiguousExtension, read_exactly, read_fast, unpack

ORACLE = Path(__file__).resolve().parent / "node" / "oracle.mjs"
UTC = dt.UTC
PARSER = MsgpackParser()


def decode(message: bytes, limits: DecoderLimits | None = None) -> Packet:
    return MsgpackDecoder(limits).receive(message)


def to_oracle(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"$bin": base64.b64encode(value).decode()}
    if isinstance(value, dt.datetime):
        return {"$date": (value - dt.datetime(1970, 1, 1, tzinfo=UTC)) // dt.timedelta(milliseconds=1)}
    if isinstance(value, list | tuple):
        return [to_oracle(v) for v in value]
    if isinstance(value, dict):
        return {k: to_oracle(v) for k, v in value.items()}
    return value


def from_oracle(value: Any) -> Any:
    if isinstance(value, list):
        return [from_oracle(v) for v in value]
    if isinstance(value, dict):
        if value.keys() == {"$bin"} or value.keys() == {"$ab"}:
            return base64.b64decode(next(iter(value.values())))
        if value.keys() == {"$date"}:
            return dt.datetime(1970, 1, 1, tzinfo=UTC) + dt.timedelta(milliseconds=value["$date"])
        if value.keys() == {"$undefined"}:
            return None
        return {k: from_oracle(v) for k, v in value.items()}
    return value


def as_node_object(packet: Packet) -> dict[str, Any]:
    """Node's packet object, keys in the order socket.io builds them."""
    obj: dict[str, Any] = {"type": int(packet.type)}
    if packet.data is not None:
        obj["data"] = to_oracle(packet.data)
    obj["nsp"] = packet.namespace
    if packet.id is not None:
        obj["id"] = packet.id
    return obj


def run_oracle(node_bin: str, work: dict[str, Any]) -> dict[str, Any]:
    done = subprocess.run(
        [node_bin, str(ORACLE)], input=json.dumps(work), capture_output=True, text=True,
        timeout=30, check=True, cwd=ORACLE.parent,
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


PACKETS = [
    Packet(PacketType.CONNECT, "/"),
    Packet(PacketType.CONNECT, "/admin", {"token": "abc", "n": 1}),
    Packet(PacketType.CONNECT, "/", {"sid": "x" * 20, "pid": "p" * 20}),
    Packet(PacketType.DISCONNECT, "/chat"),
    Packet(PacketType.CONNECT_ERROR, "/", {"message": "not authorized", "data": {"code": 401}}),
    Packet(PacketType.CONNECT_ERROR, "/", "old style"),
    Packet(PacketType.EVENT, "/", ["chat", "hello", 1, -1, -33, 200, 70_000, 2**40, -(2**40), 0.5, True, False, None]),
    Packet(PacketType.EVENT, "/", ["é" * 40, "x" * 300, "y" * 70_000, list(range(20)), {str(i): i for i in range(20)}], 12),
    Packet(PacketType.EVENT, "/admin", ["files", b"", b"\x00" * 31, b"\x01" * 300, b"\x02" * 70_000, {"deep": [b"z"]}], 2**32),
    Packet(PacketType.EVENT, "/", ["when", dt.datetime(2024, 1, 2, 3, 4, 5, 678_000, tzinfo=UTC), dt.datetime(1960, 1, 1, tzinfo=UTC)]),
    Packet(PacketType.ACK, "/", [], 0),
    Packet(PacketType.ACK, "/admin", ["ok", b"\xff", {"a": None}], 7),
]


def test_the_bytes_are_notepacks(node_bin: str) -> None:
    ours = [base64.b64encode(PARSER.encode(p)[0]).decode() for p in PACKETS]
    theirs = run_oracle(node_bin, {"encode": [as_node_object(p) for p in PACKETS]})["encoded"]
    assert ours == theirs


def test_node_reads_what_tidings_writes(node_bin: str) -> None:
    messages = [base64.b64encode(PARSER.encode(p)[0]).decode() for p in PACKETS]
    decoded = run_oracle(node_bin, {"decode": messages})["decoded"]
    for packet, seen in zip(PACKETS, decoded, strict=True):
        assert "$error" not in seen, (packet, seen)
        assert seen == as_node_object(packet)


def test_tidings_reads_what_node_writes(node_bin: str) -> None:
    """Node's values as notepack.io writes them: undefined, Dates, ArrayBuffers of every
    length (8 bytes included, which share a Date's extension type), Buffers."""
    data = [
        "values", {"$undefined": True}, {"$date": 1_704_164_645_678}, {"$date": -1},
        {"$ab": ""}, {"$ab": "AQ=="}, {"$ab": base64.b64encode(b"12345678").decode()},
        {"$ab": base64.b64encode(b"z" * 300).decode()}, {"$bin": "AAE="},
        {"k": {"$undefined": True}},
    ]
    objects = [
        {"type": 2, "data": data, "nsp": "/"},
        {"type": 2, "data": ["date", {"$date": 0}], "nsp": "/", "id": 5},
        {"type": 0, "data": {"$undefined": True}, "nsp": "/"},  # socket.io-client without auth
        {"type": 3, "data": [{"$ab": base64.b64encode(b"\x00" * 8).decode()}], "nsp": "/x", "id": 1},
    ]
    encoded = run_oracle(node_bin, {"encode": objects})["encoded"]
    packets = [decode(base64.b64decode(m)) for m in encoded]
    epoch = dt.datetime(1970, 1, 1, tzinfo=UTC)
    assert packets[0] == Packet(PacketType.EVENT, "/", [
        "values", None, dt.datetime(2024, 1, 2, 3, 4, 5, 678_000, tzinfo=UTC),
        epoch - dt.timedelta(milliseconds=1), b"", b"\x01", b"12345678", b"z" * 300, b"\x00\x01",
        {"k": None},
    ])
    assert packets[1] == Packet(PacketType.EVENT, "/", ["date", epoch], 5)
    assert packets[2] == Packet(PacketType.CONNECT, "/")
    assert packets[3] == Packet(PacketType.ACK, "/x", [b"\x00" * 8], 1)


# Messages both decoders refuse (Node's checks), then ones only tidings refuses (its own
# limits and rules, as for the default parser).
def _raw(obj: Any) -> bytes:
    return bytes(msgpack.packb(obj))


REFUSED_BY_BOTH = [
    b"",
    b"\xc1",
    _raw([2, "/"]),
    _raw({"type": 9, "nsp": "/", "data": []}),
    _raw({"type": "2", "nsp": "/", "data": []}),
    _raw({"type": 2, "data": ["x"]}),
    _raw({"type": 2, "nsp": 1, "data": ["x"]}),
    _raw({"type": 2, "nsp": "/", "data": {"a": 1}}),
    _raw({"type": 0, "nsp": "/", "data": "auth"}),
    _raw({"type": 1, "nsp": "/", "data": {}}),
    _raw({"type": 4, "nsp": "/", "data": 3}),
    _raw({"type": 2, "nsp": "/", "data": ["x"], "id": "1"}),
    _raw({"type": 2, "nsp": "/", "data": ["x"], "id": 1.5}),
    _raw({"type": 5, "nsp": "/", "data": ["x"]}),
    _raw({"type": 2, "nsp": "/", "data": ["x"]}) + b"\x00",
]

REFUSED_BY_TIDINGS_ONLY = [
    _raw({"type": 2, "nsp": "/", "data": []}),
    _raw({"type": 2, "nsp": "/", "data": [1]}),
    _raw({"type": 2, "nsp": "/", "data": ["disconnect"]}),
    _raw({"type": 3, "nsp": "/", "data": []}),
    _raw({"type": 2, "nsp": "/", "data": ["x"], "id": -1}),
    _raw({"type": 2, "nsp": "/", "data": ["x"], "id": 2**53}),
    _raw({"type": 2, "nsp": "/" + "n" * 300, "data": ["x"]}),
]


def test_refusals_agree_with_node(node_bin: str) -> None:
    messages = [base64.b64encode(m).decode() for m in REFUSED_BY_BOTH + REFUSED_BY_TIDINGS_ONLY]
    decoded = run_oracle(node_bin, {"decode": messages})["decoded"]
    for message, seen in zip(REFUSED_BY_BOTH, decoded, strict=False):
        assert "$error" in seen, (message, seen)
    for message, seen in zip(REFUSED_BY_TIDINGS_ONLY, decoded[len(REFUSED_BY_BOTH):], strict=True):
        assert "$error" not in seen, (message, seen)
    for message in REFUSED_BY_BOTH + REFUSED_BY_TIDINGS_ONLY:
        with pytest.raises(DecodeError):
            decode(message)


def test_text_messages_and_deep_nesting_are_refused() -> None:
    with pytest.raises(DecodeError):
        MsgpackDecoder().receive('2["x"]')
    deep: Any = "end"
    for _ in range(40):
        deep = [deep]
    message = PARSER.encode(Packet(PacketType.EVENT, "/", ["x", deep]))[0]
    assert decode(message, DecoderLimits(max_nesting=50)).data == ["x", deep]
    with pytest.raises(DecodeError):
        decode(message, DecoderLimits(max_nesting=20))


def test_encoding_misuse_raises_at_once() -> None:
    with pytest.raises(ValueError):
        PARSER.encode(Packet(PacketType.EVENT, "/", ["connect"]))
    with pytest.raises(TypeError):
        PARSER.encode(Packet(PacketType.EVENT, "/", []))
    with pytest.raises(ValueError):
        PARSER.encode(Packet(PacketType.ACK, "/", []))
    with pytest.raises(TypeError, match="event 'x'"):
        PARSER.encode(Packet(PacketType.EVENT, "/", ["x", object()]))
    with pytest.raises(TypeError):
        PARSER.encode(Packet(PacketType.EVENT, "/", ["x", 2**64]))
    cyclic: list[Any] = []
    cyclic.append(cyclic)
    with pytest.raises(TypeError):
        PARSER.encode(Packet(PacketType.EVENT, "/", ["x", cyclic]))


# -- properties ----------------------------------------------------------------------------

dates = st.datetimes(
    min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30), timezones=st.just(UTC)
).map(lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000))
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**63), 2**64 - 1), st.floats(allow_nan=False),
    st.text(max_size=40), st.binary(max_size=300), dates,
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5),
    max_leaves=25,
)
names = st.text(min_size=1, max_size=10).filter(
    lambda n: n not in {"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"}
)
namespaces = st.sampled_from(["/", "/admin", "/é/ü", "/a,b"])
ack_ids = st.integers(0, 2**53 - 1)
packets = st.one_of(
    st.builds(lambda n, name, args, i: Packet(PacketType.EVENT, n, [name, *args], i),
              namespaces, names, st.lists(values, max_size=4), st.none() | ack_ids),
    st.builds(lambda n, args, i: Packet(PacketType.ACK, n, args, i),
              namespaces, st.lists(values, max_size=4), ack_ids),
    st.builds(lambda n, d: Packet(PacketType.CONNECT, n, d),
              namespaces, st.none() | st.dictionaries(st.text(max_size=8), values, max_size=4)),
    st.builds(lambda n: Packet(PacketType.DISCONNECT, n), namespaces),
    st.builds(lambda n, d: Packet(PacketType.CONNECT_ERROR, n, d),
              namespaces, st.text() | st.fixed_dictionaries({"message": st.text()})),
)


@settings(max_examples=300, deadline=None)
@given(packet=packets)
def test_round_trip(packet: Packet) -> None:
    (message,) = PARSER.encode(packet)
    assert isinstance(message, bytes)
    assert decode(message) == packet


@settings(max_examples=100, deadline=None)
@given(value=values)
def test_binary_kinds_come_back_as_bytes(value: Any) -> None:
    packet = Packet(PacketType.EVENT, "/", ["x", bytearray(b"ab"), memoryview(b"cd"), value])
    assert decode(PARSER.encode(packet)[0]).data == ["x", b"ab", b"cd", value]


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=200))
def test_any_bytes_decode_or_raise_decode_error(data: bytes) -> None:
    try:
        decode(data)
    except DecodeError:
        pass


@settings(max_examples=200, deadline=None)
@given(obj=st.dictionaries(st.sampled_from(["type", "nsp", "data", "id", "x"]), values, max_size=5))
def test_any_map_decodes_or_raises_decode_error(obj: dict[str, Any]) -> None:
    try:
        packet = decode(bytes(msgpack.packb(obj, datetime=True)))
    except DecodeError:
        return
    assert packet.type in (PacketType.CONNECT, PacketType.DISCONNECT, PacketType.EVENT,
                           PacketType.ACK, PacketType.CONNECT_ERROR)


def test_floats_travel_as_floats() -> None:
    data = decode(PARSER.encode(Packet(PacketType.EVENT, "/", ["f", math.inf, -0.0, math.nan]))[0]).data
    assert data[1] == math.inf and math.copysign(1, data[2]) == -1 and math.isnan(data[3])


# -- the C reader and the exact one agree wherever the C reader is used -----------------------

exts = st.builds(msgpack.ExtType, st.integers(0, 127), st.binary(max_size=20))
timestamps = st.builds(msgpack.Timestamp, st.integers(-(2**40), 2**40), st.integers(0, 999_999_999))
raw_values = st.recursive(
    st.one_of(
        st.none(), st.booleans(), st.integers(-(2**63), 2**64 - 1), st.floats(width=32),
        st.text(max_size=40), st.binary(max_size=300), exts, timestamps,
    ),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5),
    max_leaves=25,
)


def fast_or_none(data: bytes) -> str | None:
    """What the C reader reads (its repr, "refused" for a DecodeError), or None if it defers."""
    try:
        return repr(read_fast(data))
    except AmbiguousExtension:
        return None
    except DecodeError:
        return "refused"


def exact(data: bytes) -> str:
    try:
        return repr(read_exactly(data, 100))
    except DecodeError:
        return "refused"


def chosen(data: bytes) -> str:
    """What ``unpack`` (the C reader, or the exact one when it defers) reads."""
    try:
        return repr(unpack(data, 100))
    except DecodeError:
        return "refused"


@settings(max_examples=500, deadline=None)
@given(value=raw_values, single_float=st.booleans())
def test_the_fast_reader_is_the_exact_one(value: Any, single_float: bool) -> None:
    data = bytes(msgpack.packb(value, use_single_float=single_float))
    fast = fast_or_none(data)
    assert fast is None or fast == exact(data)
    assert chosen(data) == exact(data)


# notepack's own forms of extension type 0, and the C reader's guesses put to the test:
# ext 8 headers of fixext lengths, fixext headers, both in one message, and inside binary.
ZERO_EXTS = [
    b"\xd4\x00\x00", b"\xd4\x00\x07", b"\xd5\x00ab", b"\xd6\x00abcd", b"\xd7\x00" + bytes(8),
    b"\xd8\x00" + bytes(16), b"\xc7\x01\x00\x00", b"\xc7\x01\x00\x05", b"\xc7\x08\x00" + b"12345678",
    b"\xc7\x02\x00ab", b"\xc7\x00\x00", b"\xc7\x03\x00abc", b"\xc8\x00\x08\x00" + bytes(8),
    b"\xc9\x00\x00\x00\x01\x00\x09", b"\xc4\x03\xc7\x08\x00", b"\xc4\x02\xd7\x00",
    b"\xd6\xff\x00\x00\x00\x01", b"\xc7\x0c\xff" + bytes(4) + bytes(7) + b"\x01",
]


@settings(max_examples=500, deadline=None)
@given(parts=st.lists(st.sampled_from(ZERO_EXTS), min_size=1, max_size=4))
def test_type_zero_extensions_read_as_notepack_reads_them(parts: list[bytes]) -> None:
    data = bytes([0x90 + len(parts)]) + b"".join(parts)
    fast = fast_or_none(data)
    assert fast is None or fast == exact(data)
    assert chosen(data) == exact(data)


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=60))
def test_the_readers_agree_on_any_bytes(data: bytes) -> None:
    fast = fast_or_none(data)
    assert fast is None or fast == exact(data)


def test_a_big_binary_message_is_read_fast() -> None:
    """A 1 MiB blob of every byte value is read by the C reader: the guesses look for a few
    headers with ``bytes.__contains__``, never a Python walk of the data."""
    blob = bytes(range(256)) * 4096
    data = PARSER.encode(Packet(PacketType.EVENT, "/", ["f", blob, dt.datetime(2020, 1, 1, tzinfo=UTC)]))[0]
    assert fast_or_none(data) is not None
    assert decode(data).data == ["f", blob, dt.datetime(2020, 1, 1, tzinfo=UTC)]
