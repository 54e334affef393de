"""Value rules shared by the three Redis wire formats (MessagePack and JSON as Node writes them).

Node's encoders (notepack.io, @msgpack/msgpack, ``JSON.stringify``) decide what a peer sees:
absent keys stay absent (never nil), a Date is the timestamp extension, NaN and Infinity reach
clients as null. Decoding is bounded (message size, string, binary, array and map lengths) and
everything malformed becomes ``WireError``. Sans-I/O.
"""

from __future__ import annotations

import math
import re
from typing import Any

import msgpack  # type: ignore[import-untyped]
import orjson

from tidings.adapters.redis.messages import Room, Target, WireError

__all__ = [
    "MAX_MESSAGE_SIZE",
    "as_node_reads",
    "event_field",
    "from_json",
    "from_msgpack",
    "iso_from_epoch_ms",
    "map_field",
    "pack",
    "request_id_field",
    "room_list",
    "sniff",
    "target_from_opts",
    "text_field",
    "to_json",
    "to_json_unless_binary",
]

MAX_MESSAGE_SIZE = 16 * 1024 * 1024
"""Default bound on one message's size (bytes); every format's decoder refuses more."""

_MAX_JS_DATE_MS = 8_640_000_000_000_000
_MS_PER_DAY = 86_400_000

# What may need a walk after unpacking: a timestamp (fixext4/fixext8/ext8-12 of type -1) or a
# float whose exponent bits are all ones (NaN, +-Infinity). A false positive (bytes inside a
# string or a bin) only costs the walk; a message without these bytes is returned as unpacked.
_NEEDS_WALK = re.compile(rb"[\xd6\xd7]\xff|\xc7\x0c\xff|\xcb[\x7f\xff][\xf0-\xff]|\xca[\x7f\xff][\x80-\xff]")


def pack(value: Any) -> bytes:
    """MessagePack as notepack writes it for the same structure and key order (binary as bin).

    Raises ``TypeError`` for what cannot travel (unknown types, integers beyond 64 bits)."""
    try:
        return msgpack.packb(value)  # type: ignore[no-any-return]
    except (TypeError, ValueError, OverflowError) as exc:
        raise TypeError(f"cannot encode for the cluster: {exc}") from exc


def _buffer_as_json(value: Any) -> Any:
    # Node's JSON paths turn a Buffer into {"type": "Buffer", "data": [bytes...]}: do the same.
    if isinstance(value, bytes | bytearray | memoryview):
        return {"type": "Buffer", "data": list(bytes(value))}
    raise TypeError(f"type {type(value).__name__} cannot travel as JSON")


def to_json(value: Any) -> bytes:
    """JSON text as ``JSON.stringify`` writes it (compact, key order kept, NaN as null); binary
    becomes Node's ``{"type": "Buffer", "data": [...]}``, as on Node's JSON-only paths."""
    try:
        return orjson.dumps(value, default=_buffer_as_json)
    except TypeError as exc:
        raise TypeError(f"cannot encode for the cluster: {exc}") from exc


def to_json_unless_binary(value: Any) -> bytes | None:
    """JSON text, or None when ``value`` holds binary (the caller then packs MessagePack).

    orjson refuses bytes, so its own scan is the binary test: no Python walk of the payload."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return None


def _ext_hook(code: int, data: bytes) -> Any:
    # notepack 2.x (redis-adapter < 8.0) wrote type 0: fixext1 = undefined, fixext8 = a Date
    # as signed ms, other lengths = an ArrayBuffer. An 8-byte ArrayBuffer reads as a Date here,
    # as the forms cannot be told apart after unpacking. Other types: [type, bytes], as notepack.
    if code == 0:
        if len(data) == 1:
            return None
        if len(data) == 8:
            return iso_from_epoch_ms(int.from_bytes(data, "big", signed=True))
        return data
    return [code, data]


def _civil_from_days(days: int) -> tuple[int, int, int]:
    # Howard Hinnant's days -> (year, month, day), proleptic Gregorian, any year.
    days += 719_468
    era = days // 146_097
    doe = days - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (month <= 2), month, day


def iso_from_epoch_ms(ms: int) -> str | None:
    """``Date.prototype.toJSON`` of a JS Date (``2024-01-02T03:04:05.678Z``; years outside
    0..9999 as ``+010000``/``-000001``); None for an invalid Date, as JSON's null."""
    if not -_MAX_JS_DATE_MS <= ms <= _MAX_JS_DATE_MS:
        return None
    days, rest = divmod(ms, _MS_PER_DAY)
    year, month, day = _civil_from_days(days)
    seconds, millis = divmod(rest, 1000)
    minutes, second = divmod(seconds, 60)
    hour, minute = divmod(minutes, 60)
    year_text = f"{year:04d}" if 0 <= year <= 9999 else f"{'+' if year > 0 else '-'}{abs(year):06d}"
    return f"{year_text}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}.{millis:03d}Z"


def _iso_from_timestamp(ts: Any) -> str | None:
    # A JS Date keeps whole milliseconds, truncated toward zero (Date's TimeClip).
    total_ns = ts.seconds * 1_000_000_000 + ts.nanoseconds
    ms = abs(total_ns) // 1_000_000
    return iso_from_epoch_ms(ms if total_ns >= 0 else -ms)


def as_node_reads(value: Any) -> Any:
    """Unpacked MessagePack as a Node node hands it on: timestamps to ISO strings, NaN and
    Infinity to None; containers rewritten in place. The general path ``from_msgpack`` skips
    when the bytes cannot hold either."""
    if isinstance(value, list):
        for i, item in enumerate(value):
            value[i] = as_node_reads(item)
        return value
    if isinstance(value, dict):
        for key, item in value.items():
            value[key] = as_node_reads(item)
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, msgpack.Timestamp):
        return _iso_from_timestamp(value)
    return value


def from_msgpack(data: bytes, max_size: int = MAX_MESSAGE_SIZE) -> Any:
    """Unpack one MessagePack value within limits; timestamps become ISO strings and NaN or
    Infinity None (only when a cheap byte scan says they may be there). Raises ``WireError``."""
    if len(data) > max_size:
        raise WireError(f"message of {len(data)} bytes exceeds {max_size}")
    try:
        value = msgpack.unpackb(
            data,
            raw=False,
            ext_hook=_ext_hook,
            max_str_len=max_size,
            max_bin_len=max_size,
            max_array_len=max_size,
            max_map_len=max_size // 2,
            max_ext_len=max_size,
        )
        if _NEEDS_WALK.search(data) is not None:
            value = as_node_reads(value)
    except (ValueError, TypeError, OverflowError, RecursionError, msgpack.UnpackException) as exc:
        raise WireError(f"malformed MessagePack: {exc}") from exc
    return value


def from_json(data: bytes | str, max_size: int = MAX_MESSAGE_SIZE) -> Any:
    """Parse one JSON text within the size limit. Raises ``WireError``."""
    if len(data) > max_size:
        raise WireError(f"message of {len(data)} bytes exceeds {max_size}")
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise WireError(f"malformed JSON: {exc}") from exc


def sniff(data: bytes, max_size: int = MAX_MESSAGE_SIZE) -> Any:
    """JSON if the first byte is ``{``, else MessagePack: how Node tells them apart on the
    channels that carry both."""
    if data[:1] == b"{":
        return from_json(data, max_size)
    return from_msgpack(data, max_size)


def room_list(value: Any) -> tuple[Room, ...]:
    """A list of room names from the wire (strings, or JS numbers as ints)."""
    if not isinstance(value, list):
        raise WireError("rooms must be a list")
    for room in value:
        if not isinstance(room, str | int) or isinstance(room, bool):
            raise WireError("a room name must be a string or an integer")
    return tuple(value)


def target_from_opts(opts: Any) -> Target:
    """Node's ``{rooms, except, flags}`` (flags optional, as classic requests omit them)."""
    if not isinstance(opts, dict):
        raise WireError("opts must be a map")
    flags = opts.get("flags", {})
    if not isinstance(flags, dict):
        raise WireError("opts.flags must be a map")
    return Target(
        rooms=room_list(opts.get("rooms", [])),
        except_=room_list(opts.get("except", [])),
        flags=flags,
    )


def text_field(message: dict[str, Any], key: str) -> str:
    """A required string field (uid, requestId, nsp)."""
    value = message.get(key)
    if not isinstance(value, str):
        raise WireError(f"{key} must be a string")
    return value


def request_id_field(message: dict[str, Any]) -> str | None:
    """An optional ``requestId``; a null one counts as absent (it could not be answered)."""
    value = message.get("requestId")
    if value is None:
        return None
    if not isinstance(value, str):
        raise WireError("requestId must be a string")
    return value


def event_field(value: Any) -> list[Any]:
    """``[event, *args]``: a list whose first item is the event name."""
    if not isinstance(value, list) or not value or not isinstance(value[0], str):
        raise WireError("event data must be a list starting with the event name")
    return value


def map_field(value: Any, what: str) -> dict[str, Any]:
    """A map, or ``WireError`` naming ``what``."""
    if not isinstance(value, dict):
        raise WireError(f"{what} must be a map")
    return value
