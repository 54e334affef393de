"""A message encoded once for many recipients: the broadcast hot path.

The WebSocket frames are built at once (a broadcast nearly always reaches a
WebSocket, and the hot path then reads a plain attribute); the polling
encodings are computed on first use and cached, so a broadcast to polling
clients base64-encodes its binary parts once. Every recipient gets the very
same objects.

With permessage-deflate, the compressed frames for peers that take messages
without context (``server_no_context_takeover``) are computed on first use and
cached too: a broadcast is compressed once for all of them. ``compress=False``
(``socket.compress(False)``) sends the plain frames to every peer.
"""

from __future__ import annotations

from collections.abc import Sequence

from tidings.protocol.engineio.packets import Encoded, encode_message
from tidings.protocol.websocket.deflate import PerMessageDeflate, encode_compressed_frame
from tidings.protocol.websocket.frames import Opcode, encode_frame

__all__ = ["PreparedMessage"]


class PreparedMessage:
    """Engine.IO MESSAGE payloads (no "4" prefix): str parts are text, bytes parts binary."""

    __slots__ = (
        "_deflated", "_encoded", "_nbytes", "compress", "droppable", "key", "parts", "ws_frames",
        "ws_messages",
    )

    def __init__(
        self,
        parts: Sequence[str | bytes],
        compress: bool = True,
        droppable: bool = False,
        key: str | None = None,
    ) -> None:
        messages: list[str | bytes] = []
        for part in parts:
            if isinstance(part, str):
                messages.append("4" + part)
            elif isinstance(part, bytes):
                messages.append(part)
            else:
                raise TypeError(f"message parts are str or bytes, not {type(part).__name__}")
        self.parts: tuple[str | bytes, ...] = tuple(parts)
        #: Every part as one WebSocket message each, for I/O layers that frame for us.
        self.ws_messages: tuple[str | bytes, ...] = tuple(messages)
        #: Every part as RFC 6455 server frames, concatenated: written as-is to each socket.
        self.ws_frames: bytes = b"".join(
            encode_frame(Opcode.TEXT, m.encode("utf-8"))
            if isinstance(m, str)
            else encode_frame(Opcode.BINARY, m)
            for m in messages
        )
        self._encoded: tuple[Encoded, ...] | None = None
        self._nbytes = 0
        #: False: never compressed, whatever the connection negotiated (Node's ``compress(false)``).
        self.compress = compress
        self._deflated: tuple[tuple[int, ...], bytes] | None = None
        #: A client that does not keep up may miss it (a slow-consumer policy of its sender).
        self.droppable = droppable
        #: With ``droppable``: a newer message with the same key replaces it while both wait.
        self.key = key

    @property
    def ws_payloads(self) -> list[tuple[int, bytes]]:
        """Every part as (opcode, payload): what a connection compresses itself."""
        return [
            (Opcode.TEXT, m.encode("utf-8")) if isinstance(m, str) else (Opcode.BINARY, m)
            for m in self.ws_messages
        ]

    def deflated_frames(self, codec: PerMessageDeflate) -> bytes:
        """The frames for a connection that deflates without context (``codec.shared``):
        computed once per configuration and cached, the same bytes for every such peer."""
        key = (*codec.key, codec.options.threshold)
        cached = self._deflated
        if cached is not None and cached[0] == key:
            return cached[1]
        threshold = codec.options.threshold
        frames = b"".join(
            encode_compressed_frame(op, codec.compress(payload))
            if len(payload) >= threshold
            else encode_frame(op, payload)
            for op, payload in self.ws_payloads
        )
        self._deflated = (key, frames)
        return frames

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
