"""MessagePack read as notepack.io 2.x reads it, which socket.io-msgpack-parser uses.

notepack gives extension type 0 three meanings by its *format*, not its length: ``fixext 1``
is ``undefined``, ``fixext 8`` a ``Date``, ``ext 8/16/32`` an ``ArrayBuffer``; any other
extension is ``[type, bytes]``. The msgpack package hands an extension hook the type and
bytes only, so ``unpack`` uses it (in C) only when no byte sequence in the message could be
one of the formats it cannot tell apart, and reads the message here otherwise. The two give
the same values (tests/parsers/test_msgpack_codec.py). Sans-I/O.
"""

from __future__ import annotations

import datetime as dt
import re
import struct
from typing import Any

import msgpack  # type: ignore[import-untyped]

from tidings.protocol.socketio.errors import DecodeError

__all__ = ["date_from_ms", "needs_exact_read", "read_exactly", "read_fast", "unpack"]

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)

# Where the C reader and notepack could differ: a one- or eight-byte ``ext 8`` of type 0
# (read by length as undefined or a Date), a ``fixext 2/4/16`` of type 0 (read as bytes), and
# any extension of type -1 (the msgpack package's timestamps; notepack's ``[-1, bytes]``).
# Never in UTF-8 text; a false positive in binary data costs only the exact (slower) read.
_AMBIGUOUS = re.compile(
    rb"\xc7[\x01\x08]\x00|\xc8\x00[\x01\x08]\x00|\xc9\x00\x00\x00[\x01\x08]\x00|[\xd5\xd6\xd8]\x00"
    rb"|[\xd4-\xd8]\xff|\xc7.\xff|\xc8..\xff|\xc9....\xff",
    re.DOTALL,
)


def date_from_ms(ms: int) -> dt.datetime | None:
    """A JS Date as a UTC ``datetime``; None beyond ``datetime``'s years 1 to 9999."""
    try:
        return _EPOCH + dt.timedelta(milliseconds=ms)
    except OverflowError:
        return None


def _ext_hook(code: int, data: bytes) -> Any:
    # Only reached when _AMBIGUOUS found nothing: a type-0 extension of one byte is then a
    # fixext 1, of eight a fixext 8, of any other length an ext 8/16/32.
    if code == 0:
        if len(data) == 1:
            return None
        if len(data) == 8:
            return date_from_ms(int.from_bytes(data, "big", signed=True))
        return data
    return [code, data]


def needs_exact_read(data: bytes) -> bool:
    """Whether ``data`` may hold what only ``read_exactly`` reads as notepack does."""
    return _AMBIGUOUS.search(data) is not None


def unpack(data: bytes, max_depth: int) -> Any:
    """One MessagePack value, as notepack.io reads it; ``DecodeError`` for anything malformed.

    Containers nested deeper than ``max_depth`` may be refused here or left to the caller."""
    if _AMBIGUOUS.search(data) is not None:
        return read_exactly(data, max_depth)
    return read_fast(data)


def read_fast(data: bytes) -> Any:
    """``unpack`` by the msgpack package's C reader: right only where ``needs_exact_read``
    is false (``unpack`` checks)."""
    try:
        return msgpack.unpackb(data, ext_hook=_ext_hook)
    except (ValueError, TypeError, OverflowError, msgpack.UnpackException):
        raise DecodeError("payload is not valid MessagePack") from None


def read_exactly(data: bytes, max_depth: int) -> Any:
    """``unpack`` by the general path, in Python: every format told apart as notepack does."""
    reader = _Reader(data, max_depth)
    try:
        value = reader.value(1)
    except (IndexError, struct.error, UnicodeDecodeError):
        raise DecodeError("payload is not valid MessagePack") from None
    if reader.pos != len(data):
        raise DecodeError("trailing bytes after the packet")
    return value


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
            if code == 0 and size == 1:
                return None  # undefined
            if code == 0 and size == 8:
                return date_from_ms(int.from_bytes(payload, "big", signed=True))
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
