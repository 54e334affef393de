"""A message encoded once for many recipients: the broadcast hot path.

Each encoding is computed on first use and cached, so a broadcast to a
thousand WebSocket clients frames once, and one to polling clients base64-encodes
its binary parts once; every recipient then gets the very same objects.
"""

from __future__ import annotations

from collections.abc import Sequence

from tidings.protocol.engineio.session import Encoded, encode_message
from tidings.protocol.websocket.frames import Opcode, encode_frame

__all__ = ["PreparedMessage"]


class PreparedMessage:
    """Engine.IO MESSAGE payloads (no "4" prefix): str parts are text, bytes parts binary."""

    __slots__ = ("_encoded", "_nbytes", "_ws_frames", "_ws_messages", "parts")

    def __init__(self, parts: Sequence[str | bytes]) -> None:
        for part in parts:
            if not isinstance(part, (str, bytes)):
                raise TypeError(f"message parts are str or bytes, not {type(part).__name__}")
        self.parts: tuple[str | bytes, ...] = tuple(parts)
        self._encoded: tuple[Encoded, ...] | None = None
        self._nbytes = 0
        self._ws_frames: bytes | None = None
        self._ws_messages: tuple[str | bytes, ...] | None = None

    @property
    def encoded(self) -> tuple[Encoded, ...]:
        """Every part as (WebSocket message, polling segment), for session queues."""
        encoded = self._encoded
        if encoded is None:
            encoded = self._encoded = tuple(encode_message(p) for p in self.parts)
            self._nbytes = sum(len(segment) for _, segment in encoded)
        return encoded

    @property
    def nbytes(self) -> int:
        """Size of the polling segments (what a polling queue grows by)."""
        if self._encoded is None:
            _ = self.encoded
        return self._nbytes

    @property
    def ws_messages(self) -> tuple[str | bytes, ...]:
        messages = self._ws_messages
        if messages is None:
            messages = self._ws_messages = tuple(ws for ws, _ in self.encoded)
        return messages

    @property
    def ws_frames(self) -> bytes:
        frames = self._ws_frames
        if frames is None:
            frames = self._ws_frames = b"".join(
                encode_frame(Opcode.TEXT, m.encode("utf-8"))
                if isinstance(m, str)
                else encode_frame(Opcode.BINARY, m)
                for m in self.ws_messages
            )
        return frames
