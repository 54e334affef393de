"""The server side of an RFC 6455 connection, Sans-I/O.

Feed it what the socket read (``receive_data``), then take ``events_received()``
and ``data_to_send()``. Pongs and the close handshake answer themselves. A peer
error never raises: the connection fails with the close code RFC 6455 asks
for, keeps the exception in ``error`` for the log, and reports ``Closed``.

Payloads are consumed as they arrive rather than when a frame is complete, so
a large message is never held twice and invalid UTF-8 fails fast, mid-frame.
A fragmented message grows one ``bytearray`` (no object per fragment), and a
message of more than ``max_fragments`` frames fails the connection with 1008:
the peer may send 1-byte fragments, and each frame costs a header's parsing.

With permessage-deflate negotiated (``deflate=``), RSV1 on a message's first frame
means compressed: its payload is inflated as it arrives, bounded by
``max_message_size``; ``send_text``/``send_bytes`` compress from the threshold on.
"""

from __future__ import annotations

import codecs
import struct

from tidings.protocol.websocket.deflate import PerMessageDeflate, encode_compressed_frame
from tidings.protocol.websocket.events import (
    BinaryMessage,
    Closed,
    Event,
    InvalidState,
    Ping,
    Pong,
    ProtocolError,
    TextMessage,
    WebSocketState,
)
from tidings.protocol.websocket.frames import (
    MAX_CONTROL_PAYLOAD,
    CloseCode,
    Masker,
    Opcode,
    apply_mask,
    encode_close,
    encode_frame,
    is_valid_close_code,
)

__all__ = ["DEFAULT_MAX_FRAGMENTS", "ServerConnection"]

_unpack_h = struct.Struct("!H").unpack_from
_unpack_q = struct.Struct("!Q").unpack_from
_utf8_decoder = codecs.getincrementaldecoder("utf-8")
_OPEN = WebSocketState.OPEN
_CLOSING = WebSocketState.CLOSING
_CLOSED = WebSocketState.CLOSED
_KNOWN_OPCODES = frozenset(int(op) for op in Opcode)

#: ``ServerConnection(max_fragments=...)``'s default: far more than any client library
#: splits a message into, far fewer than 1-byte fragments of a large message.
DEFAULT_MAX_FRAGMENTS = 100_000


class ServerConnection:
    """One server-side WebSocket after the opening handshake."""

    __slots__ = (
        "_buf",
        "_mask",
        "_decoder",
        "_events",
        "_frame_fin",
        "_frame_mask",
        "_frame_offset",
        "_frame_remaining",
        "_msg_buffer",
        "_msg_compressed",
        "_msg_fragments",
        "_msg_opcode",
        "_msg_size",
        "_out",
        "_out_size",
        "close_received",
        "close_sent",
        "deflate",
        "error",
        "max_fragments",
        "max_message_size",
        "state",
    )

    def __init__(
        self,
        max_message_size: int = 1_000_000,
        *,
        masker: Masker = apply_mask,
        max_fragments: int = DEFAULT_MAX_FRAGMENTS,
        deflate: PerMessageDeflate | None = None,
    ) -> None:
        if max_message_size <= 0:
            raise ValueError("max_message_size must be positive")
        if max_fragments <= 0:
            raise ValueError("max_fragments must be positive")
        self._mask = masker
        self.state = _OPEN
        self.max_message_size = max_message_size
        #: Frames one message may span; more fails the connection with 1008.
        self.max_fragments = max_fragments
        #: The negotiated permessage-deflate state: RSV1 on a message's first frame means
        #: compressed. Inflated sizes count against ``max_message_size``.
        self.deflate = deflate
        self.error: ProtocolError | None = None
        self.close_sent: tuple[int | None, str] | None = None
        self.close_received: tuple[int, str] | None = None
        self._buf = b""
        self._events: list[Event] = []
        self._out: list[bytes] = []
        self._out_size = 0
        # Frame whose payload is being consumed (-1: reading a header).
        self._frame_remaining = -1
        self._frame_offset = 0
        self._frame_mask = b""
        self._frame_fin = False
        # Message being assembled across frames (0: none).
        self._msg_opcode = 0
        self._msg_size = 0
        self._msg_fragments = 0
        self._msg_compressed = False
        # The payload so far, raw (a text message is decoded once, when complete).
        self._msg_buffer: bytearray | None = None
        self._decoder: codecs.IncrementalDecoder | None = None

    # -- output -------------------------------------------------------------

    def events_received(self) -> list[Event]:
        events = self._events
        if events:
            self._events = []
        return events

    def data_to_send(self) -> list[bytes]:
        """Frames queued since the last call, in order; the caller writes them in one go."""
        out = self._out
        if out:
            self._out = []
            self._out_size = 0
        return out

    @property
    def bytes_pending(self) -> int:
        """Bytes queued and not yet taken by ``data_to_send``."""
        return self._out_size

    def close_expected(self) -> bool:
        """True once the TCP connection should be closed (after writing what is pending)."""
        return self.state is _CLOSED

    # -- commands -----------------------------------------------------------

    def _queue(self, frame: bytes) -> None:
        self._out.append(frame)
        self._out_size += len(frame)

    def _check_open(self) -> None:
        if self.state is not _OPEN:
            raise InvalidState(f"cannot send on a {self.state.name} WebSocket")

    def send_text(self, data: str) -> None:
        if self.state is not _OPEN:
            self._check_open()
        frame = self._data_frame(1, data.encode("utf-8"))
        self._out.append(frame)
        self._out_size += len(frame)

    def send_bytes(self, data: bytes) -> None:
        if self.state is not _OPEN:
            self._check_open()
        frame = self._data_frame(2, data)
        self._out.append(frame)
        self._out_size += len(frame)

    def _data_frame(self, opcode: int, payload: bytes) -> bytes:
        """Compressed when deflate was negotiated and ``payload`` reaches the threshold."""
        deflate = self.deflate
        if deflate is not None and len(payload) >= deflate.options.threshold:
            return encode_compressed_frame(opcode, deflate.compress(payload))
        return encode_frame(opcode, payload)

    def send_frames(self, frames: bytes) -> None:
        """Frames encoded elsewhere (once, for many recipients), queued as they are."""
        if self.state is not _OPEN:
            self._check_open()
        self._out.append(frames)
        self._out_size += len(frames)

    def send_ping(self, payload: bytes = b"") -> None:
        self._check_open()
        if len(payload) > MAX_CONTROL_PAYLOAD:
            raise ValueError("ping payload longer than 125 bytes")
        self._queue(encode_frame(Opcode.PING, payload))

    def close(self, code: int = CloseCode.NORMAL, reason: str = "") -> None:
        """Start the close handshake; a no-op once closing (a close is idempotent)."""
        if self.state is not _OPEN:
            return
        frame = encode_close(code, reason)  # validates before any state change
        self._queue(frame)
        self.close_sent = (code, reason)
        self.state = _CLOSING

    def fail(self, code: int, reason: str = "") -> None:
        """Fail the connection for a local reason (e.g. a peer that does not read):
        frames not yet taken are dropped, a close frame is queued, state is CLOSED."""
        if self.state is _CLOSED:
            return
        frame = encode_close(code, reason)
        self._out = [] if self.state is _CLOSING else [frame]
        self._out_size = len(self._out[0]) if self._out else 0
        if self.state is _OPEN:
            self.close_sent = (code, reason)
        self.state = _CLOSED
        self._buf = b""
        self._events.append(Closed(code, reason))

    def receive_eof(self) -> None:
        """The TCP connection ended."""
        if self.state is _CLOSED:
            return
        self.state = _CLOSED
        self._buf = b""
        self._events.append(Closed(CloseCode.ABNORMAL, ""))

    def abort(self, code: int, reason: str = "") -> None:
        """End at once (e.g. a close that timed out) and report ``Closed(code, reason)``."""
        if self.state is _CLOSED:
            return
        self.state = _CLOSED
        self._buf = b""
        self._events.append(Closed(code, reason))

    # -- input --------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        if self.state is _CLOSED or not data:
            return
        try:
            self._parse(self._buf + data if self._buf else data)
        except ProtocolError as exc:
            self._fail(exc)

    def _fail(self, exc: ProtocolError) -> None:
        self.error = exc
        self._buf = b""
        self._msg_buffer = None
        self._decoder = None
        code = exc.code
        if self.state is _OPEN:
            self._queue(encode_close(code))
            self.close_sent = (code, "")
        self.state = _CLOSED
        self._events.append(Closed(code, str(exc)))

    def _parse(self, buf: bytes) -> None:
        pos = 0
        end = len(buf)
        while self.state is not _CLOSED:
            remaining = self._frame_remaining
            if remaining < 0:
                # A frame header: 2 bytes, 0/2/8 of extended length, 4 of mask.
                if end - pos < 2:
                    break
                b0 = buf[pos]
                b1 = buf[pos + 1]
                if (b0 == 0x81 or b0 == 0x82) and 0x80 <= b1 < 0xFE and not self._msg_opcode:
                    # Fastest path: a small, whole, masked text or binary message.
                    length = b1 - 0x80
                    start = pos + 6
                    stop = start + length
                    if stop <= end and length <= self.max_message_size:
                        key = (buf[pos + 2 : start] * ((length >> 2) + 1))[:length]
                        payload = (
                            int.from_bytes(buf[start:stop], "little")
                            ^ int.from_bytes(key, "little")
                        ).to_bytes(length, "little")
                        pos = stop
                        if self.state is not _OPEN:
                            continue
                        if b0 == 0x81:
                            try:
                                text = payload.decode("utf-8")
                            except UnicodeDecodeError:
                                raise ProtocolError(
                                    CloseCode.INVALID_DATA, "invalid UTF-8"
                                ) from None
                            self._events.append(TextMessage(text))
                        else:
                            self._events.append(BinaryMessage(payload))
                        continue
                opcode = b0 & 0x0F
                fin = bool(b0 & 0x80)
                length = b1 & 0x7F
                # Everything checkable from the first two bytes fails at once.
                compressed = False
                if b0 & 0x70:
                    # RSV1 is permessage-deflate's, on the first frame of a data message only.
                    if b0 & 0x70 != 0x40 or self.deflate is None or not 1 <= opcode <= 2:
                        raise ProtocolError(CloseCode.PROTOCOL_ERROR, "reserved bits set")
                    compressed = True
                if not b1 & 0x80:
                    raise ProtocolError(CloseCode.PROTOCOL_ERROR, "unmasked client frame")
                if opcode not in _KNOWN_OPCODES:
                    raise ProtocolError(CloseCode.PROTOCOL_ERROR, f"reserved opcode {opcode}")
                if opcode >= 8:
                    if not fin:
                        raise ProtocolError(CloseCode.PROTOCOL_ERROR, "fragmented control frame")
                    if length > MAX_CONTROL_PAYLOAD:
                        raise ProtocolError(CloseCode.PROTOCOL_ERROR, "control frame too long")
                elif opcode == 0:
                    if not self._msg_opcode:
                        raise ProtocolError(CloseCode.PROTOCOL_ERROR, "continuation without start")
                    self._msg_fragments += 1
                    if self._msg_fragments > self.max_fragments:
                        raise ProtocolError(
                            CloseCode.POLICY_VIOLATION, "too many fragments in one message"
                        )
                elif self._msg_opcode:
                    raise ProtocolError(
                        CloseCode.PROTOCOL_ERROR, "new message inside a fragmented one"
                    )
                if length < 126:
                    hlen = 6
                elif length == 126:
                    hlen = 8
                else:
                    hlen = 14
                if end - pos < hlen:
                    break
                if length == 126:
                    length = _unpack_h(buf, pos + 2)[0]
                elif length == 127:
                    length = _unpack_q(buf, pos + 2)[0]
                    if length >> 63:
                        raise ProtocolError(CloseCode.PROTOCOL_ERROR, "frame length over 2**63")
                if opcode >= 8:
                    if end - pos < hlen + length:
                        break  # control frames are handled whole
                    start = pos + hlen
                    payload = self._mask(buf[start : start + length], buf[start - 4 : start])
                    pos = start + length
                    self._control(opcode, payload)
                    continue
                size = self._msg_size + length
                if size > self.max_message_size:
                    raise ProtocolError(CloseCode.MESSAGE_TOO_BIG, "message too big")
                start = pos + hlen
                mask = buf[start - 4 : start]
                if opcode and fin and end - start >= length and not compressed:
                    # Fast path: a whole unfragmented message is here.
                    payload = self._mask(buf[start : start + length], mask)
                    pos = start + length
                    if self.state is not _OPEN:
                        continue  # data after our close frame is discarded
                    if opcode == 1:
                        try:
                            text = payload.decode("utf-8")
                        except UnicodeDecodeError:
                            raise ProtocolError(CloseCode.INVALID_DATA, "invalid UTF-8") from None
                        self._events.append(TextMessage(text))
                    else:
                        self._events.append(BinaryMessage(payload))
                    continue
                if opcode:
                    self._msg_opcode = opcode
                    self._msg_fragments = 1
                    self._msg_buffer = bytearray()
                    self._msg_compressed = compressed
                    if opcode == 1 and self.state is _OPEN:
                        # After our close frame a message is dropped unread, as a whole
                        # one is above: no UTF-8 check.
                        self._decoder = _utf8_decoder()
                self._msg_size = size
                self._frame_remaining = remaining = length
                self._frame_offset = 0
                self._frame_mask = mask
                self._frame_fin = fin
                pos = start
            # The payload of a data frame, as much of it as is here.
            take = min(remaining, end - pos)
            if take:
                chunk = self._mask(buf[pos : pos + take], self._frame_mask, self._frame_offset)
                pos += take
                self._frame_offset += take
                self._frame_remaining = remaining = remaining - take
                self._append(chunk)
            if remaining:
                break
            self._frame_remaining = -1
            if self._frame_fin:
                self._finish_message()
        self._buf = buf[pos:] if pos < end and self.state is not _CLOSED else b""

    def _append(self, chunk: bytes) -> None:
        buffer = self._msg_buffer
        assert buffer is not None
        if self._msg_compressed:
            assert self.deflate is not None
            chunk = self.deflate.inflate(chunk, self.max_message_size - len(buffer))
        decoder = self._decoder
        if decoder is not None:
            # Validation only, as the bytes arrive; the text is decoded once at the end.
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError:
                raise ProtocolError(CloseCode.INVALID_DATA, "invalid UTF-8") from None
        if self.state is _OPEN:  # after our close frame a message is dropped unread
            buffer += chunk

    def _finish_message(self) -> None:
        if self._msg_compressed:
            assert self.deflate is not None and self._msg_buffer is not None
            self._msg_compressed = False
            self._append_tail(self.deflate.finish(self.max_message_size - len(self._msg_buffer)))
        opcode = self._msg_opcode
        buffer = self._msg_buffer
        decoder = self._decoder
        self._msg_opcode = 0
        self._msg_size = 0
        self._msg_fragments = 0
        self._msg_buffer = None
        self._decoder = None
        assert buffer is not None
        if opcode == 1 and decoder is not None:
            try:
                decoder.decode(b"", True)
            except UnicodeDecodeError:
                raise ProtocolError(CloseCode.INVALID_DATA, "invalid UTF-8") from None
            if self.state is _OPEN:
                self._events.append(TextMessage(buffer.decode("utf-8")))
        elif opcode == 2 and self.state is _OPEN:
            self._events.append(BinaryMessage(bytes(buffer)))

    def _append_tail(self, chunk: bytes) -> None:
        """What inflating the end of a compressed message gave: checked and kept."""
        if chunk:
            if self._decoder is not None:
                try:
                    self._decoder.decode(chunk)
                except UnicodeDecodeError:
                    raise ProtocolError(CloseCode.INVALID_DATA, "invalid UTF-8") from None
            if self.state is _OPEN and self._msg_buffer is not None:
                self._msg_buffer += chunk

    def _control(self, opcode: int, payload: bytes) -> None:
        if opcode == Opcode.PING:
            if self.state is _OPEN:
                self._queue(encode_frame(Opcode.PONG, payload))
            self._events.append(Ping(payload))
        elif opcode == Opcode.PONG:
            self._events.append(Pong(payload))
        else:
            self._close_frame(payload)

    def _close_frame(self, payload: bytes) -> None:
        n = len(payload)
        if n == 1:
            raise ProtocolError(CloseCode.PROTOCOL_ERROR, "close frame with a 1-byte body")
        if n == 0:
            code, reason = int(CloseCode.NO_STATUS), ""
        else:
            code = _unpack_h(payload, 0)[0]
            if not is_valid_close_code(code):
                raise ProtocolError(CloseCode.PROTOCOL_ERROR, f"invalid close code {code}")
            try:
                reason = payload[2:].decode("utf-8")
            except UnicodeDecodeError:
                raise ProtocolError(
                    CloseCode.INVALID_DATA, "invalid UTF-8 in close reason"
                ) from None
        self.close_received = (code, reason)
        if self.state is _OPEN:
            echo: int | None = None if code == CloseCode.NO_STATUS else code
            self._queue(encode_close(echo))
            self.close_sent = (echo, "")
        self.state = _CLOSED
        self._msg_buffer = None
        self._decoder = None
        self._events.append(Closed(code, reason))
