"""RFC 6455 frames, Sans-I/O.

``encode_frame`` is on the broadcast hot path: a frame is built once and the
same bytes are written to every recipient.
"""

from __future__ import annotations

import enum
import struct


class Opcode(enum.IntEnum):
    CONT = 0x0
    TEXT = 0x1
    BINARY = 0x2
    CLOSE = 0x8
    PING = 0x9
    PONG = 0xA


_pack_h = struct.Struct("!BBH").pack
_pack_q = struct.Struct("!BBQ").pack


def encode_frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    """An unmasked (server-to-client) frame."""
    first = (0x80 if fin else 0) | opcode
    n = len(payload)
    if n < 126:
        return bytes((first, n)) + payload
    if n < 65536:
        return _pack_h(first, 126, n) + payload
    return _pack_q(first, 127, n) + payload
