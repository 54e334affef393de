"""Binary attachments in one column or field: each prefixed by its 4-byte length."""

from __future__ import annotations

import struct

__all__ = ["pack_blobs", "unpack_blobs"]

_LENGTH = struct.Struct(">I")


def pack_blobs(blobs: tuple[bytes, ...]) -> bytes | None:
    """Binary attachments as one column: each prefixed by its 4-byte length."""
    if not blobs:
        return None
    return b"".join(_LENGTH.pack(len(b)) + b for b in blobs)


def unpack_blobs(packed: bytes | None) -> tuple[bytes, ...]:
    if not packed:
        return ()
    blobs = []
    view = memoryview(packed)
    at = 0
    while at < len(view):
        (size,) = _LENGTH.unpack_from(view, at)
        at += _LENGTH.size
        blobs.append(bytes(view[at : at + size]))
        at += size
    return tuple(blobs)
