"""RFC 6455 frames, Sans-I/O.

``encode_frame`` is on the broadcast hot path: a frame is built once and the
same bytes are written to every recipient.
"""

from __future__ import annotations

import enum
import struct
from typing import Protocol


class Opcode(enum.IntEnum):
    CONT = 0x0
    TEXT = 0x1
    BINARY = 0x2
    CLOSE = 0x8
    PING = 0x9
    PONG = 0xA


class CloseCode(enum.IntEnum):
    """The status codes this package sends or reports (RFC 6455 section 7.4.1)."""

    NORMAL = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    NO_STATUS = 1005  # reported only: never on the wire
    ABNORMAL = 1006  # reported only: the TCP connection ended without a close frame
    INVALID_DATA = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    MANDATORY_EXTENSION = 1010
    INTERNAL_ERROR = 1011


DATA_OPCODES = frozenset((Opcode.CONT, Opcode.TEXT, Opcode.BINARY))
CONTROL_OPCODES = frozenset((Opcode.CLOSE, Opcode.PING, Opcode.PONG))
MAX_CONTROL_PAYLOAD = 125

_pack_h = struct.Struct("!BBH").pack
_pack_q = struct.Struct("!BBQ").pack
_pack_code = struct.Struct("!H").pack
_MASK_BLOCK = 16384  # a multiple of 4: every block starts at mask position 0


def encode_frame(opcode: int, payload: bytes, fin: bool = True, rsv1: bool = False) -> bytes:
    """An unmasked (server-to-client) frame; ``rsv1``: its payload is deflated (RFC 7692)."""
    first = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
    n = len(payload)
    if n < 126:
        return bytes((first, n)) + payload
    if n < 65536:
        return _pack_h(first, 126, n) + payload
    return _pack_q(first, 127, n) + payload


def is_valid_close_code(code: int) -> bool:
    """Codes a peer may put on the wire; 1004-1006 and 1015 are reserved, 1016-2999 unassigned."""
    return 1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999


def encode_close(code: int | None = None, reason: str = "") -> bytes:
    """A close frame; ``code=None`` sends an empty body (answer to a close without status)."""
    if code is None:
        if reason:
            raise ValueError("a close reason needs a close code")
        return encode_frame(Opcode.CLOSE, b"")
    if not is_valid_close_code(code):
        raise ValueError(f"close code {code} may not be sent")
    body = _pack_code(code) + reason.encode("utf-8")
    if len(body) > MAX_CONTROL_PAYLOAD:
        raise ValueError("close reason longer than 123 bytes")
    return encode_frame(Opcode.CLOSE, body)


def py_apply_mask(data: bytes, mask: bytes, offset: int = 0) -> bytes:
    """XOR ``data`` with the 4-byte ``mask`` starting at mask position ``offset``.

    Big-integer XORs over 16 KiB blocks (cache-sized): C speed without a C
    extension, about 2-3 ms per MiB where a loop per byte takes 100.
    """
    n = len(data)
    if n == 0:
        return b""
    if offset & 3:
        o = offset & 3
        mask = mask[o:] + mask[:o]
    if n <= _MASK_BLOCK:
        key = (mask * ((n >> 2) + 1))[:n]
        return (int.from_bytes(data, "little") ^ int.from_bytes(key, "little")).to_bytes(
            n, "little"
        )
    block_key = int.from_bytes(mask * (_MASK_BLOCK >> 2), "little")
    view = memoryview(data)
    parts = []
    for i in range(0, n - _MASK_BLOCK + 1, _MASK_BLOCK):
        parts.append(
            (int.from_bytes(view[i : i + _MASK_BLOCK], "little") ^ block_key).to_bytes(
                _MASK_BLOCK, "little"
            )
        )
    tail = n % _MASK_BLOCK
    if tail:
        key = (mask * ((tail >> 2) + 1))[:tail]
        parts.append(
            (int.from_bytes(view[n - tail :], "little") ^ int.from_bytes(key, "little")).to_bytes(
                tail, "little"
            )
        )
    return b"".join(parts)


class Masker(Protocol):
    """What unmasks payloads: ``apply_mask`` here, or a compiled one an I/O layer passes in."""

    def __call__(self, data: bytes, mask: bytes, offset: int = 0) -> bytes: ...


#: The pure-Python masker; ``ServerConnection(masker=...)`` takes a faster one.
apply_mask: Masker = py_apply_mask
