"""Every captured Node message decodes to the message it carries, and encoding that message
gives Node's bytes (MessagePack) or text (JSON) again, key order included."""

from __future__ import annotations

from typing import Any

import pytest

from tests.adapters.redis.vectors import (
    FORMATS,
    VECTORS,
    message_from,
    payload_of,
    typed_value,
    vector_id,
)
from tidings.adapters.redis.messages import Outgoing
from tidings.adapters.redis.streams import StreamsFormat
from tidings.adapters.redis.values import from_msgpack

PUBLISHED = [v for v in VECTORS if v["command"] != "XADD"]
ENTRIES = [v for v in VECTORS if v["command"] == "XADD"]


def test_every_format_and_operation_is_covered() -> None:
    kinds = {(v["format"].split(":")[0], v["expected"]["kind"]) for v in VECTORS}
    assert len(VECTORS) == 122
    for fmt in ("classic", "sharded", "streams"):
        for kind in (
            "Broadcast", "SocketsJoin", "SocketsLeave", "DisconnectSockets", "FetchSockets",
            "FetchSocketsResponse", "ServerSideEmit", "ServerSideEmitResponse",
            "BroadcastClientCount", "BroadcastAck",
        ):
            assert (fmt, kind) in kinds
    assert ("classic", "AllRooms") in kinds and ("classic", "AllRoomsResponse") in kinds


@pytest.mark.parametrize("vector", PUBLISHED, ids=vector_id)
def test_published_payload_decodes_to_its_message(vector: dict[str, Any]) -> None:
    fmt = FORMATS[vector["format"].split(":")[0]]
    assert fmt.decode(vector["channel"], payload_of(vector)) == message_from(vector["expected"])


@pytest.mark.parametrize("vector", PUBLISHED, ids=vector_id)
def test_message_encodes_to_the_published_bytes(vector: dict[str, Any]) -> None:
    fmt = FORMATS[vector["format"].split(":")[0]]
    message = message_from(vector["expected"], for_encoding=True)
    sharded = vector["command"] == "SPUBLISH"
    expected = Outgoing(vector["channel"], payload_of(vector), sharded=sharded)
    assert fmt.encode(message, reply_to=vector.get("reply_to")) == [expected]


@pytest.mark.parametrize("vector", ENTRIES, ids=vector_id)
def test_stream_entry_decodes_to_its_message(vector: dict[str, Any]) -> None:
    fmt = FORMATS["streams"]
    fields = {name.encode(): value.encode() for name, value in vector["fields"]}
    assert fmt.decode_entry(vector["channel"], fields) == message_from(vector["expected"])


@pytest.mark.parametrize("vector", ENTRIES, ids=vector_id)
def test_message_encodes_to_the_stream_entry(vector: dict[str, Any]) -> None:
    fmt = FORMATS["streams"]
    assert isinstance(fmt, StreamsFormat)
    message = message_from(vector["expected"], for_encoding=True)
    expected = Outgoing(vector["channel"], fields=tuple((n, v) for n, v in vector["fields"]))
    assert fmt.encode(message) == [expected]
    assert fmt.max_len == vector["max_len"]


@pytest.mark.parametrize("vector", [v for v in VECTORS if "hex" in v], ids=vector_id)
def test_typed_decoding_matches_the_unpacked_bytes(vector: dict[str, Any]) -> None:
    # The shared unpacker reads Node's bytes as the capture's typed decoding says (timestamps
    # as the ISO text Node's clients see).
    assert from_msgpack(bytes.fromhex(vector["hex"])) == typed_value(vector["decoded"], False)
