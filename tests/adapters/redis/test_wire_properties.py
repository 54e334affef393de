"""Round trips of every message through every format, the decoders' fast paths against their
general paths, and decoders that never raise anything but WireError."""

from __future__ import annotations

import json
import math
from typing import Any

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.adapters.redis.vectors import VECTORS, payload_of
from tidings.adapters.redis.classic import ClassicFormat
from tidings.adapters.redis.messages import (
    AllRooms,
    AllRoomsResponse,
    Broadcast,
    BroadcastAck,
    BroadcastClientCount,
    ClusterMessage,
    DisconnectSockets,
    FetchSockets,
    FetchSocketsResponse,
    ServerSideEmit,
    ServerSideEmitResponse,
    SocketsJoin,
    SocketsLeave,
    Target,
    WireError,
)
from tidings.adapters.redis.sharded import ShardedFormat
from tidings.adapters.redis.streams import StreamsFormat
from tidings.adapters.redis.values import (
    as_node_reads,
    from_msgpack,
    to_json_unless_binary,
)
from tidings.adapters.redis.wire import WireFormat

ints = st.integers(min_value=-(2**63), max_value=2**63 - 1)
scalars = st.none() | st.booleans() | ints | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)
binary_values = st.recursive(
    scalars | st.binary(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)
names = st.text(st.characters(blacklist_characters="#", blacklist_categories=("Cs",)), max_size=6)
nsps = names.map(lambda name: "/" + name)
ids = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=16)
rooms = st.lists(ids | st.integers(min_value=-(2**53), max_value=2**53), max_size=3).map(tuple)
flags = st.dictionaries(st.text(max_size=6), json_values, max_size=3)
targets = st.builds(Target, rooms, rooms, flags)
bare_targets = st.builds(Target, rooms, rooms)  # classic requests carry no flags


def events(values: st.SearchStrategy[Any]) -> st.SearchStrategy[list[Any]]:
    return st.builds(lambda name, args: [name, *args], st.text(max_size=8), st.lists(values, max_size=3))


sockets = st.lists(st.dictionaries(st.text(max_size=6), json_values, max_size=4), max_size=3)
maybe_ids = st.none() | ids


def cluster_messages(uids: st.SearchStrategy[str]) -> st.SearchStrategy[ClusterMessage]:
    return st.one_of(
        st.builds(Broadcast, uids, nsps, events(binary_values), targets, maybe_ids),
        st.builds(SocketsJoin, uids, nsps, targets, rooms),
        st.builds(SocketsLeave, uids, nsps, targets, rooms),
        st.builds(DisconnectSockets, uids, nsps, targets, st.booleans()),
        st.builds(FetchSockets, uids, nsps, targets, ids),
        st.builds(FetchSocketsResponse, uids, nsps, ids, sockets),
        st.builds(ServerSideEmit, uids, nsps, events(binary_values), maybe_ids),
        st.builds(ServerSideEmitResponse, uids, nsps, ids, binary_values),
        st.builds(BroadcastClientCount, uids, nsps, ids, st.integers(min_value=0, max_value=2**31)),
        st.builds(BroadcastAck, uids, nsps, ids, binary_values),
    )


classic_messages = st.one_of(
    st.builds(Broadcast, ids, nsps, events(binary_values), targets, maybe_ids),
    st.builds(SocketsJoin, maybe_ids, nsps, bare_targets, rooms),
    st.builds(SocketsLeave, maybe_ids, nsps, bare_targets, rooms),
    st.builds(DisconnectSockets, maybe_ids, nsps, bare_targets, st.booleans()),
    st.builds(FetchSockets, ids, nsps, bare_targets, ids),
    st.builds(ServerSideEmit, ids, nsps, events(json_values), maybe_ids),
    st.builds(AllRooms, ids, nsps, ids),
    st.builds(FetchSocketsResponse, st.none(), nsps, ids, sockets),
    st.builds(AllRoomsResponse, st.none(), nsps, ids, rooms.map(list)),
    st.builds(ServerSideEmitResponse, st.none(), nsps, ids, json_values),
    st.builds(BroadcastClientCount, st.none(), nsps, ids, st.integers(min_value=0, max_value=2**31)),
    st.builds(BroadcastAck, st.none(), nsps, ids, binary_values),
)


def round_trip(fmt: WireFormat, message: ClusterMessage, reply_to: str = "requester") -> Any:
    (outgoing,) = fmt.encode(message, reply_to=reply_to)
    if outgoing.fields:
        fields = {name.encode(): value.encode() for name, value in outgoing.fields}
        return fmt.decode_entry(outgoing.channel, fields)
    return fmt.decode(outgoing.channel, outgoing.payload)


@given(classic_messages)
def test_classic_round_trip(message: ClusterMessage) -> None:
    assert round_trip(ClassicFormat("p"), message) == message


@given(cluster_messages(ids), st.sampled_from(["static", "dynamic", "dynamic-private"]))
def test_sharded_round_trip(message: ClusterMessage, mode: Any) -> None:
    assert round_trip(ShardedFormat("p", mode), message) == message


@given(cluster_messages(ids), st.integers(min_value=1, max_value=5))
def test_streams_round_trip(message: ClusterMessage, count: int) -> None:
    assert round_trip(StreamsFormat("p", "s", stream_count=count), message) == message


# -- fast paths against general paths

timestamps = st.builds(
    msgpack.Timestamp,
    st.integers(min_value=-(2**40), max_value=2**40),
    st.integers(min_value=0, max_value=999_999_999),
)
unpacked_values = st.recursive(
    scalars | st.binary(max_size=8) | timestamps | st.sampled_from([math.nan, math.inf, -math.inf]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)


@given(unpacked_values)
def test_walk_skipped_only_when_it_changes_nothing(value: Any) -> None:
    packed = msgpack.packb(value)
    general = as_node_reads(msgpack.unpackb(packed, raw=False))
    assert repr(from_msgpack(packed)) == repr(general)


def _has_binary(value: Any) -> bool:
    if isinstance(value, bytes):
        return True
    if isinstance(value, list):
        return any(_has_binary(item) for item in value)
    if isinstance(value, dict):
        return any(_has_binary(item) for item in value.values())
    return False


@given(binary_values)
def test_json_unless_binary_is_a_binary_test(value: Any) -> None:
    assert (to_json_unless_binary(value) is None) == _has_binary(value)


# -- fuzz: decoders raise WireError or nothing

FORMATS: list[tuple[WireFormat, list[str]]] = [
    (ClassicFormat(), ["socket.io#/#", "socket.io-request#/#", "socket.io-response#/#", "other"]),
    (ShardedFormat(), ["socket.io#/#"]),
    (StreamsFormat(), ["socket.io#/#"]),
]
PAYLOADS = [payload_of(v) for v in VECTORS if v["command"] != "XADD"]


def _decode_all(payload: bytes) -> None:
    for fmt, channels in FORMATS:
        for channel in channels:
            try:
                fmt.decode(channel, payload)
            except WireError:
                pass


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=64))
def test_random_bytes_never_raise_but_wire_error(payload: bytes) -> None:
    _decode_all(payload)
    _decode_all(b"{" + payload)
    _decode_all(msgpack.packb([payload.decode("latin-1"), {"type": 2}, {}]))


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(PAYLOADS), st.data())
def test_mutated_vectors_never_raise_but_wire_error(payload: bytes, data: st.DataObject) -> None:
    mutated = bytearray(payload)
    for _ in range(data.draw(st.integers(min_value=1, max_value=4))):
        position = data.draw(st.integers(min_value=0, max_value=len(mutated) - 1))
        mutated[position] = data.draw(st.integers(min_value=0, max_value=255))
    cut = data.draw(st.integers(min_value=0, max_value=len(mutated)))
    _decode_all(bytes(mutated))
    _decode_all(bytes(mutated[:cut]))


@given(st.dictionaries(st.sampled_from([b"uid", b"nsp", b"type", b"data", b"x"]),
                       st.binary(max_size=24) | st.sampled_from([b"3", b"4", b"{", b"gqZw", b"/"])))
def test_random_stream_entries_never_raise_but_wire_error(fields: dict[bytes, bytes]) -> None:
    try:
        StreamsFormat().decode_entry("socket.io", fields)
    except WireError:
        pass


@given(unpacked_values)
def test_valid_but_foreign_values_never_raise_but_wire_error(value: Any) -> None:
    packed = msgpack.packb(value)
    _decode_all(packed)
    _decode_all(msgpack.packb({"type": 3, "data": value, "uid": "u", "nsp": "/"}))
    _decode_all(msgpack.packb(["u", {"type": 2, "data": value}, {"rooms": value}]))
    _decode_all(msgpack.packb({"uid": "u", "type": 7, "requestId": "r", "packet": value}))


@pytest.mark.parametrize("type_", [2, 3])
def test_a_join_or_leave_request_without_rooms_is_a_wire_error(type_: int) -> None:
    """Found by the mutation property above: a KeyError escaped instead."""
    payload = json.dumps({"type": type_, "uid": "u", "opts": {"rooms": [], "except": []}}).encode()
    with pytest.raises(WireError):
        ClassicFormat().decode("socket.io-request#/#", payload)
