"""MessagePack read as notepack.io 2.x reads it, which socket.io-msgpack-parser uses.

notepack gives extension type 0 meanings by its *format*, not its length: ``fixext 1`` is
``undefined``, ``fixext 8`` a ``Date``, other ``fixext`` sizes ``[0, bytes]``, ``ext 8/16/32``
an ``ArrayBuffer``; any other extension is ``[type, bytes]``. The msgpack package hands an
extension hook the type and the bytes only, so ``read_fast`` (its C reader) settles a type-0
extension of a ``fixext`` size by looking for the other form's header in the message, and
gives up (``AmbiguousExtension``) when both could be there; ``read_exactly`` then reads the
message in Python. The two give the same values (tests/parsers/test_msgpack_codec.py).

One departure from notepack: extension type -1 is MessagePack's timestamp (which notepack 2.x
never writes), read as a UTC ``datetime`` rather than ``[-1, bytes]``. Sans-I/O.
"""

from __future__ import annotations

import datetime as dt
import struct
from collections.abc import Callable
from typing import Any

import msgpack  # type: ignore[import-untyped]

from tidings.protocol.socketio.errors import DecodeError

__all__ = ["AmbiguousExtension", "date_from_ms", "read_exactly", "read_fast", "unpack"]

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_FIXEXT_SIZES = (1, 2, 4, 8, 16)
# For a type-0 extension of each fixext size: the headers of that size's fixext, and of an
# ext 8/16/32 of the same length.
_FIXEXT_HEADER = {n: bytes((0xD4 + i, 0)) for i, n in enumerate(_FIXEXT_SIZES)}
_EXT_HEADERS = {
    n: (bytes((0xC7, n, 0)), bytes((0xC8, 0, n, 0)), bytes((0xC9, 0, 0, 0, n, 0))) for n in _FIXEXT_SIZES
}


class AmbiguousExtension(Exception):
    """``read_fast`` cannot tell a type-0 extension's format: ``read_exactly`` must read it."""


def date_from_ms(ms: int) -> dt.datetime | None:
    """A JS Date as a UTC ``datetime``; None beyond ``datetime``'s years 1 to 9999."""
    try:
        return _EPOCH + dt.timedelta(milliseconds=ms)
    except OverflowError:
        return None


def _fixext_zero(payload: bytes) -> Any:
    n = len(payload)
    if n == 1:
        return None  # undefined
    if n == 8:
        return date_from_ms(int.from_bytes(payload, "big", signed=True))
    return [0, payload]


def _hook_for(data: bytes) -> Callable[[int, bytes], Any]:
    def hook(code: int, payload: bytes) -> Any:
        if code != 0:
            return [code, payload]
        n = len(payload)
        if n not in _FIXEXT_HEADER:
            return payload  # only an ext 8/16/32 has this length: an ArrayBuffer
        c7, c8, c9 = _EXT_HEADERS[n]
        if c7 not in data and c8 not in data and c9 not in data:
            return _fixext_zero(payload)
        if _FIXEXT_HEADER[n] not in data:
            return payload
        raise AmbiguousExtension

    return hook


def unpack(data: bytes, max_depth: int) -> Any:
    """One MessagePack value, as notepack.io reads it; ``DecodeError`` for anything malformed.

    Containers nested deeper than ``max_depth`` may be refused here or left to the caller."""
    try:
        return read_fast(data)
    except AmbiguousExtension:
        return read_exactly(data, max_depth)


def read_fast(data: bytes) -> Any:
    """``unpack`` by the msgpack package's C reader; ``AmbiguousExtension`` where it cannot
    tell what notepack would read."""
    try:
        return msgpack.unpackb(data, ext_hook=_hook_for(data), timestamp=3)
    except (ValueError, TypeError, OverflowError, msgpack.UnpackException):
        raise DecodeError("payload is not valid MessagePack") from None


def read_exactly(data: bytes, max_depth: int) -> Any:
    """``unpack`` by the general path, in Python: every format told apart as notepack does."""
    reader = _Reader(data, max_depth)
    try:
        value = reader.value(1)
    except (IndexError, struct.error, UnicodeDecodeError, OverflowError):
        raise DecodeError("payload is not valid MessagePack") from None
    if reader.pos != len(data):
        raise DecodeError("trailing bytes after the packet")
    return value


def _timestamp(payload: bytes) -> dt.datetime:
    """MessagePack's timestamp extension (type -1), as the msgpack package reads it."""
    n = len(payload)
    if n == 4:
        seconds, nanoseconds = int.from_bytes(payload, "big"), 0
    elif n == 8:
        value = int.from_bytes(payload, "big")
        seconds, nanoseconds = value & 0x3_FFFF_FFFF, value >> 34
    elif n == 12:
        nanoseconds = int.from_bytes(payload[:4], "big")
        seconds = int.from_bytes(payload[4:], "big", signed=True)
    else:
        raise DecodeError("invalid timestamp extension")
    return _EPOCH + dt.timedelta(seconds=seconds, microseconds=nanoseconds // 1000)


_UNPACK = {
    0xCA: struct.Struct(">f"), 0xCB: struct.Struct(">d"),
    0xCC: struct.Struct(">B"), 0xCD: struct.Struct(">H"), 0xCE: struct.Struct(">I"), 0xCF: struct.Struct(">Q"),
    0xD0: struct.Struct(">b"), 0xD1: struct.Struct(">h"), 0xD2: struct.Struct(">i"), 0xD3: struct.Struct(">q"),
}
_LENGTH = {1: struct.Struct(">B"), 2: struct.Struct(">H"), 4: struct.Struct(">I")}
_FIXEXT = {0xD4: 1, 0xD5: 2, 0xD6: 4, 0xD7: 8, 0xD8: 16}


class _Reader:
    __slots__ = ("data", "max_depth", "pos")

    def __init__(self, data: bytes, max_depth: int) -> None:
        self.data = data
        self.pos = 0
        self.max_depth = max_depth

    def _length(self, size: int) -> int:
        (n,) = _LENGTH[size].unpack_from(self.data, self.pos)
        self.pos += size
        if n > len(self.data) - self.pos:
            raise DecodeError("length beyond the end of the message")
        return int(n)

    def _take(self, n: int) -> bytes:
        start = self.pos
        end = start + n
        if end > len(self.data):
            raise DecodeError("length beyond the end of the message")
        self.pos = end
        return self.data[start:end]

    def value(self, depth: int) -> Any:
        prefix = self.data[self.pos]
        self.pos += 1
        if prefix < 0x80:
            return prefix
        if prefix >= 0xE0:
            return prefix - 0x100
        if prefix < 0x90:
            return self._map(prefix & 0x0F, depth)
        if prefix < 0xA0:
            return self._array(prefix & 0x0F, depth)
        if prefix < 0xC0:
            return self._take(prefix & 0x1F).decode()
        if prefix == 0xC0:
            return None
        if prefix == 0xC2:
            return False
        if prefix == 0xC3:
            return True
        if 0xC4 <= prefix <= 0xC6:  # bin 8/16/32
            return self._take(self._length(1 << (prefix - 0xC4)))
        if 0xC7 <= prefix <= 0xC9:  # ext 8/16/32: type 0 is an ArrayBuffer
            n = self._length(1 << (prefix - 0xC7))
            code = self._ext_type()
            payload = self._take(n)
            if code == -1:
                return _timestamp(payload)
            return payload if code == 0 else [code, payload]
        number = _UNPACK.get(prefix)
        if number is not None:
            (result,) = number.unpack_from(self.data, self.pos)
            self.pos += number.size
            return result
        size = _FIXEXT.get(prefix)
        if size is not None:
            code = self._ext_type()
            payload = self._take(size)
            if code == 0:
                return _fixext_zero(payload)
            if code == -1:
                return _timestamp(payload)
            return [code, payload]
        if 0xD9 <= prefix <= 0xDB:  # str 8/16/32
            return self._take(self._length(1 << (prefix - 0xD9))).decode()
        if prefix == 0xDC or prefix == 0xDD:
            return self._array(self._length(2 if prefix == 0xDC else 4), depth)
        if prefix == 0xDE or prefix == 0xDF:
            return self._map(self._length(2 if prefix == 0xDE else 4), depth)
        raise DecodeError(f"invalid MessagePack byte 0x{prefix:02x}")

    def _ext_type(self) -> int:
        code = self.data[self.pos]
        self.pos += 1
        return code - 0x100 if code >= 0x80 else code

    def _array(self, n: int, depth: int) -> list[Any]:
        if depth > self.max_depth:
            raise DecodeError("payload nested too deeply")
        return [self.value(depth + 1) for _ in range(n)]

    def _map(self, n: int, depth: int) -> dict[Any, Any]:
        if depth > self.max_depth:
            raise DecodeError("payload nested too deeply")
        out: dict[Any, Any] = {}
        for _ in range(n):
            key = self.value(depth + 1)
            if type(key) is not str and type(key) is not bytes:
                raise DecodeError("map keys must be strings")
            out[key] = self.value(depth + 1)
        return out
