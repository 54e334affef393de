"""The frames of the local bus: publish/subscribe between the workers of one machine.

A frame is ``length`` (4 bytes, big-endian: what follows it), ``op`` (1), ``request id``
(4), ``channel length`` (2), the channel in UTF-8, then the payload. Sans-I/O: the hub
and the bus do the I/O.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

__all__ = ["MAX_FRAME", "Frame", "FrameError", "FrameReader", "Op", "encode", "encode_count"]

HEADER = struct.Struct("!IBIH")
COUNT = struct.Struct("!I")
MAX_FRAME = 64 * 1024 * 1024
"""The largest frame either side accepts (a cluster message is bounded at 16 MiB)."""


class Op(IntEnum):
    PUBLISH = 1
    """Worker to hub: deliver ``payload`` to the other subscribers of ``channel``."""
    SUBSCRIBE = 2
    PSUBSCRIBE = 3
    """The channel is a glob pattern (``*``, ``?``, ``[...]``), as Redis's PSUBSCRIBE."""
    UNSUBSCRIBE = 4
    PUNSUBSCRIBE = 5
    NUMSUB = 6
    """How many workers subscribed to exactly ``channel`` (answered by a REPLY)."""
    MESSAGE = 7
    """Hub to worker: a publish on ``channel``."""
    REPLY = 8
    """Hub to worker: the answer to the request ``request_id`` (a count for NUMSUB)."""


class FrameError(ValueError):
    """Bytes that are not a frame of ours: the connection is closed."""


@dataclass(frozen=True, slots=True)
class Frame:
    op: Op
    request_id: int
    channel: str
    payload: bytes

    @property
    def count(self) -> int:
        """The count a NUMSUB's REPLY carries."""
        return int(COUNT.unpack(self.payload)[0])


def encode(op: Op, channel: str = "", payload: bytes = b"", request_id: int = 0) -> bytes:
    name = channel.encode()
    length = HEADER.size - 4 + len(name) + len(payload)
    return HEADER.pack(length, op, request_id, len(name)) + name + payload


def encode_count(request_id: int, count: int) -> bytes:
    return encode(Op.REPLY, "", COUNT.pack(count), request_id)


class FrameReader:
    """Cuts a byte stream into frames."""

    __slots__ = ("_buffer",)

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[Frame]:
        """The frames ``data`` completes; ``FrameError`` for what cannot be one."""
        buffer = self._buffer
        buffer += data
        frames: list[Frame] = []
        start = 0
        end = len(buffer)
        while end - start >= HEADER.size:
            length, op, request_id, name_length = HEADER.unpack_from(buffer, start)
            if length > MAX_FRAME or length < HEADER.size - 4 + name_length:
                raise FrameError(f"bad frame length {length}")
            stop = start + 4 + length
            if stop > end:
                break
            name_end = start + HEADER.size + name_length
            try:
                frames.append(Frame(
                    Op(op), request_id, buffer[start + HEADER.size:name_end].decode(),
                    bytes(buffer[name_end:stop]),
                ))
            except ValueError as exc:  # an unknown op, or a channel that is not UTF-8
                raise FrameError(str(exc)) from exc
            start = stop
        if start:
            del buffer[:start]
        return frames
