"""The captured wire vectors (vectors.json) and the messages they stand for.

Captured with Redis MONITOR while two Node socket.io 4.8.4 servers (@socket.io/redis-adapter
8.3.0, @socket.io/redis-streams-adapter 0.3.1) ran every cross-node operation in each format.
MessagePack payloads are hex with a typed decoding (``{"$bin": hex}``, ``{"$timestamp": iso}``);
JSON payloads are the exact text published. ``expected`` is the message each one carries.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgpack

from tidings.adapters.redis import messages
from tidings.adapters.redis.classic import ClassicFormat
from tidings.adapters.redis.messages import ClusterMessage, Target
from tidings.adapters.redis.sharded import ShardedFormat
from tidings.adapters.redis.streams import StreamsFormat
from tidings.adapters.redis.wire import WireFormat

VECTORS: list[dict[str, Any]] = json.loads(
    (Path(__file__).parent / "vectors.json").read_text(encoding="utf-8")
)

FORMATS: dict[str, WireFormat] = {
    "classic": ClassicFormat(),
    "sharded": ShardedFormat(),
    "streams": StreamsFormat(),
}


def vector_id(vector: dict[str, Any]) -> str:
    return f"{vector['format']}:{vector['operation'][:40]}:{vector['command']}:{vector['channel']}"


def _iso_to_timestamp(iso: str) -> msgpack.Timestamp:
    from datetime import datetime

    moment = datetime.fromisoformat(iso)
    ms = round(moment.timestamp() * 1000)
    return msgpack.Timestamp(ms // 1000, (ms % 1000) * 1_000_000)


def typed_value(value: Any, for_encoding: bool) -> Any:
    """The annotated decoding as Python values: bin to bytes, a timestamp to what a tidings
    node reads (the ISO string) or, to re-encode Node's bytes, a ``msgpack.Timestamp``."""
    if isinstance(value, list):
        return [typed_value(item, for_encoding) for item in value]
    if isinstance(value, dict):
        if list(value) == ["$bin"]:
            return bytes.fromhex(value["$bin"])
        if list(value) == ["$timestamp"]:
            iso = value["$timestamp"]
            return _iso_to_timestamp(iso) if for_encoding else iso
        return {key: typed_value(item, for_encoding) for key, item in value.items()}
    return value


def message_from(expected: dict[str, Any], for_encoding: bool = False) -> ClusterMessage:
    fields = {
        key: typed_value(value, for_encoding) for key, value in expected.items() if key != "kind"
    }
    if "target" in fields:
        target = fields["target"]
        fields["target"] = Target(
            tuple(target["rooms"]), tuple(target["except_"]), target["flags"]
        )
    if "rooms" in fields and expected["kind"] != "AllRoomsResponse":
        fields["rooms"] = tuple(fields["rooms"])
    cls = getattr(messages, expected["kind"])
    message: ClusterMessage = cls(**fields)
    return message


def payload_of(vector: dict[str, Any]) -> bytes:
    if "json" in vector:
        return str(vector["json"]).encode()
    return bytes.fromhex(vector["hex"])
