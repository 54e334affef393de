"""What the captured vectors do not show: value rules at their edges, the legacy and emitter
forms of the classic format, sharded channel choice per mode, streams keys and entries."""

from __future__ import annotations

import math

import msgpack
import pytest

from tidings.adapters.redis.classic import ClassicFormat
from tidings.adapters.redis.messages import (
    AllRooms,
    Broadcast,
    BroadcastAck,
    DisconnectSockets,
    FetchSocketsResponse,
    Outgoing,
    ServerSideEmit,
    SocketsJoin,
    SocketsLeave,
    Target,
    WireError,
)
from tidings.adapters.redis.sharded import ShardedFormat
from tidings.adapters.redis.streams import StreamsFormat, stream_hash
from tidings.adapters.redis.values import from_msgpack, iso_from_epoch_ms
from tidings.adapters.redis.wire import Subscriptions

SID = "s_O3B3g3IbbREWXkAAAD"  # 20 characters, as every socket id


# -- values


@pytest.mark.parametrize(
    ("ms", "iso"),
    [
        (1704164645678, "2024-01-02T03:04:05.678Z"),
        (0, "1970-01-01T00:00:00.000Z"),
        (-1, "1969-12-31T23:59:59.999Z"),
        (253402300800000, "+010000-01-01T00:00:00.000Z"),
        (-62198755200000, "-000001-01-01T00:00:00.000Z"),
        (-62167219200000, "0000-01-01T00:00:00.000Z"),
        (8_640_000_000_000_001, None),
    ],
)
def test_dates_read_as_node_writes_them(ms: int, iso: str | None) -> None:
    assert iso_from_epoch_ms(ms) == iso


def test_timestamps_of_every_width_become_iso_text() -> None:
    value = [
        msgpack.Timestamp(1704164645, 0),  # timestamp32
        msgpack.Timestamp(1704164645, 678_000_000),  # timestamp64
        msgpack.Timestamp(-1, 500_000_000),  # timestamp96: JS truncates toward zero
    ]
    assert from_msgpack(msgpack.packb(value)) == [
        "2024-01-02T03:04:05.000Z", "2024-01-02T03:04:05.678Z", "1969-12-31T23:59:59.500Z",
    ]


def test_nan_and_infinity_become_none() -> None:
    packed = msgpack.packb({"a": math.nan, "b": [math.inf, -math.inf, 1.5]})
    assert from_msgpack(packed) == {"a": None, "b": [None, None, 1.5]}
    assert from_msgpack(b"\xca\x7f\xc0\x00\x00") is None  # float32 NaN


def test_legacy_notepack_extensions() -> None:
    assert from_msgpack(b"\xd4\x00\x00") is None  # undefined
    date = b"\xd7\x00" + (1704164645678).to_bytes(8, "big", signed=True)
    assert from_msgpack(date) == "2024-01-02T03:04:05.678Z"
    assert from_msgpack(b"\xc7\x03\x00abc") == b"abc"  # ArrayBuffer
    assert from_msgpack(b"\xd4\x05\x01") == [5, b"\x01"]  # unknown type, as notepack


@pytest.mark.parametrize(
    "payload",
    [b"", b"\x93\xa1u", b"\x91\x01\x02", b"\x81\x01\x02", b"\xa2\xff\xfe", b"\xc1", b"\xdd\xff\xff\xff\xff"],
)
def test_malformed_msgpack_is_a_wire_error(payload: bytes) -> None:
    with pytest.raises(WireError):
        from_msgpack(payload)


def test_messages_over_the_size_limit_are_refused() -> None:
    payload = msgpack.packb(["uid", {"type": 2, "data": ["e", "x" * 100]}, {}])
    assert ClassicFormat().decode("socket.io#/#", payload).uid == "uid"  # type: ignore[union-attr]
    with pytest.raises(WireError, match="exceeds"):
        ClassicFormat(max_message_size=64).decode("socket.io#/#", payload)
    with pytest.raises(WireError, match="exceeds"):
        ShardedFormat(max_message_size=8).decode("socket.io#/#", b'{"type":3}' * 2)


# -- classic


def test_classic_channels() -> None:
    fmt = ClassicFormat("p")
    assert fmt.subscriptions("/chat", "U") == Subscriptions(
        channels=("p-request#/chat#", "p-response#/chat#", "p-response#/chat#U#"),
        patterns=("p#/chat#*",),
    )
    assert fmt.count_channel("/chat") == ("NUMSUB", "p-request#/chat#")
    assert fmt.room_channel("/chat", "r") is None
    assert fmt.broadcast_channel("/", 42) == "p#/#42#"


def test_classic_emitter_broadcast_keeps_the_emitters_key_order() -> None:
    message = Broadcast("emitter", "/", ["e"], Target(("a",), ("b",), {"volatile": True}))
    (outgoing,) = ClassicFormat().encode(message)
    expected = ["emitter", {"type": 2, "data": ["e"], "nsp": "/"},
                {"rooms": ["a"], "flags": {"volatile": True}, "except": ["b"]}]
    assert outgoing == Outgoing("socket.io#/#a#", msgpack.packb(expected))


def test_classic_packet_without_nsp_is_for_the_main_namespace() -> None:
    payload = msgpack.packb(["u", {"type": 2, "data": ["e"]}, {"rooms": [], "except": []}])
    assert ClassicFormat().decode("socket.io#/chat#", payload) == Broadcast("u", "/", ["e"], Target())


def test_classic_legacy_one_socket_requests() -> None:
    fmt = ClassicFormat()
    join = b'{"uid":"abc","requestId":"r1","type":2,"sid":"S","room":"R"}'
    leave = b'{"uid":"abc","requestId":"r1","type":3,"sid":"S","room":"R"}'
    kick = b'{"uid":"abc","requestId":"r1","type":4,"sid":"S","close":true}'
    assert fmt.decode("socket.io-request#/#", join) == SocketsJoin("abc", "/", Target(("S",)), ("R",))
    assert fmt.decode("socket.io-request#/#", leave) == SocketsLeave("abc", "/", Target(("S",)), ("R",))
    assert fmt.decode("socket.io-request#/#", kick) == DisconnectSockets("abc", "/", Target(("S",)), True)
    assert fmt.decode("socket.io-request#/#", b'{"uid":"a","requestId":"r","type":0,"rooms":[]}') is None
    assert fmt.decode("socket.io-response#/#", b'{"requestId":"r1"}') is None
    assert fmt.decode("socket.io-response#/#", b'{"requestId":"r","sockets":["S"]}') is None


def test_classic_answers_are_read_on_the_specific_response_channel_too() -> None:
    payload = b'{"requestId":"r","sockets":[]}'
    assert ClassicFormat().decode("socket.io-response#/chat#U1#", payload) == FetchSocketsResponse(
        None, "/chat", "r", []
    )


def test_classic_null_request_id_is_absent_and_absent_stays_absent() -> None:
    fmt = ClassicFormat()
    payload = b'{"uid":"u","requestId":null,"type":6,"data":["e"]}'
    assert fmt.decode("socket.io-request#/#", payload) == ServerSideEmit("u", "/", ["e"])
    (outgoing,) = fmt.encode(ServerSideEmit("u", "/", ["e"]))
    assert outgoing.payload == b'{"uid":"u","type":6,"data":["e"]}'


def test_classic_binary_on_json_paths_travels_as_node_buffers() -> None:
    (outgoing,) = ClassicFormat().encode(ServerSideEmit("u", "/", ["e", b"\x00\xff"]))
    assert outgoing.payload == b'{"uid":"u","type":6,"data":["e",{"type":"Buffer","data":[0,255]}]}'


@pytest.mark.parametrize(
    ("channel", "payload"),
    [
        ("elsewhere", b"{}"),
        ("socket.io-request#/#", b'{"type":42}'),
        ("socket.io-request#/#", b'{"type":5,"opts":{"rooms":[]}}'),  # no uid
        ("socket.io-request#/#", b"[1,2]"),
        ("socket.io-response#/#", b'{"type":8,"requestId":"r","clientCount":-1}'),
        ("socket.io#/#", msgpack.packb(["u", {"type": 3, "data": ["e"]}, {}])),
        ("socket.io#/#", msgpack.packb(["u", {"type": 2, "data": [1]}, {}])),
        ("socket.io#/#", msgpack.packb(["u", {"type": 2, "data": ["e"]}, {"rooms": "abc"}])),
        ("socket.io-request", b"{}"),
    ],
)
def test_classic_foreign_messages_are_wire_errors(channel: str, payload: bytes) -> None:
    with pytest.raises(WireError):
        ClassicFormat().decode(channel, payload)


# -- sharded


@pytest.mark.parametrize(
    ("mode", "room", "channel"),
    [
        ("static", "r", None),
        ("dynamic", "r", "p#/#r#"),
        ("dynamic", 42, "p#/#42#"),
        ("dynamic", SID, None),
        ("dynamic-private", SID, f"p#/#{SID}#"),
    ],
)
def test_sharded_room_channels_follow_the_mode(mode: str, room: str | int, channel: str | None) -> None:
    fmt = ShardedFormat("p", mode)  # type: ignore[arg-type]
    assert fmt.room_channel("/", room) == channel
    (outgoing,) = fmt.encode(Broadcast("u", "/", ["e"], Target((room,))))
    assert outgoing.channel == (channel or "p#/#") and outgoing.sharded
    (with_acks,) = fmt.encode(Broadcast("u", "/", ["e"], Target((room,)), "req"))
    assert with_acks.channel == "p#/#"


def test_sharded_channels_and_encodings() -> None:
    fmt = ShardedFormat("p")
    assert fmt.subscriptions("/", "U") == Subscriptions(channels=("p#/#", "p#/#U#"), sharded=True)
    assert fmt.count_channel("/") == ("SHARDNUMSUB", "p#/#")
    (binary,) = fmt.encode(BroadcastAck("u", "/", "r", b"\x01"), reply_to="V")
    assert binary.channel == "p#/#V#" and binary.payload[:1] == b"\x84"
    (text,) = fmt.encode(BroadcastAck("u", "/", "r", "x"), reply_to="V")
    assert text.payload == b'{"type":12,"data":{"requestId":"r","packet":"x"},"uid":"u","nsp":"/"}'
    with pytest.raises(ValueError, match="reply_to"):
        fmt.encode(BroadcastAck("u", "/", "r", "x"))
    with pytest.raises(ValueError, match="classic"):
        fmt.encode(AllRooms("u", "/", "r"))
    with pytest.raises(ValueError, match="subscription mode"):
        ShardedFormat("p", "sometimes")  # type: ignore[arg-type]


def test_sharded_heartbeats_are_ignored() -> None:
    for type_ in (1, 2, 13):
        payload = b'{"type":%d,"uid":"u","nsp":"/"}' % type_
        assert ShardedFormat().decode("socket.io#/#", payload) is None


# -- streams


@pytest.mark.parametrize(
    ("nsp", "hashed", "key3", "key7"),
    [
        ("/", 47, "s-2", "s-5"),
        ("/admin", 1438238848, "s-1", "s-4"),
        ("/ünï😀code", 167376126, "s-0", "s-1"),
        ("/zzzzzzzz", -961036753, "s--1", "s--5"),
    ],
)
def test_stream_keys_as_node_computes_them(nsp: str, hashed: int, key3: str, key7: str) -> None:
    # Expected values computed by the streams adapter's own hashCode in Node.
    assert stream_hash(nsp) == hashed
    assert StreamsFormat(stream_name="s", stream_count=3).stream_key(nsp) == key3
    assert StreamsFormat(stream_name="s", stream_count=7).stream_key(nsp) == key7
    assert StreamsFormat(stream_name="s").stream_key(nsp) == "s"


def test_streams_channels() -> None:
    fmt = StreamsFormat("p", "s", 500, 3)
    assert fmt.subscriptions("/", "U") == Subscriptions(channels=("p#/#", "p#/#U#"), streams=("s-2",))
    assert fmt.count_channel("/") == ("NUMSUB", "p#/#")
    assert fmt.room_channel("/", "r") is None
    assert fmt.max_len == 500


def test_streams_entries_skipped_or_refused() -> None:
    fmt = StreamsFormat()
    assert fmt.decode_entry("socket.io", {b"uid": b"u", b"type": b"3"}) is None  # no nsp
    assert fmt.decode_entry("socket.io", {b"uid": b"u", b"nsp": b"/", b"type": b"2"}) is None
    for fields in (
        {b"uid": b"u", b"nsp": b"/", b"type": b"x"},
        {b"uid": b"u", b"nsp": b"/", b"type": b"3", b"data": b"!!!"},
        {b"uid": b"u", b"nsp": b"/", b"type": b"3", b"data": b"{"},
        {b"uid": b"u", b"nsp": b"\xff", b"type": b"3"},
    ):
        with pytest.raises(WireError):
            fmt.decode_entry("socket.io", fields)
