"""The format of ``@socket.io/redis-streams-adapter`` 0.3.

Broadcasts without acks, socketsJoin/Leave and disconnectSockets are stream entries (XADD, fields
``uid, nsp, type, data``; ``data`` JSON text, or base64 MessagePack when it holds binary);
requests and responses are MessagePack envelopes on pub/sub channels named as the sharded
format's. The envelope mapping is the sharded module's (one ClusterAdapter mapping). Sans-I/O.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any, Final

from tidings.adapters.redis.messages import (
    Broadcast,
    ClusterMessage,
    DisconnectSockets,
    Outgoing,
    Room,
    SocketsJoin,
    SocketsLeave,
    WireError,
)
from tidings.adapters.redis.sharded import (
    MAY_CARRY_BINARY,
    RESPONSE_TYPES,
    cluster_envelope_data,
    cluster_message,
    envelope_message,
)
from tidings.adapters.redis.values import (
    MAX_MESSAGE_SIZE,
    from_json,
    from_msgpack,
    pack,
    sniff,
    to_json,
    to_json_unless_binary,
)
from tidings.adapters.redis.wire import Subscriptions

__all__ = ["StreamsFormat", "stream_hash"]

_DURABLE: Final = (SocketsJoin, SocketsLeave, DisconnectSockets)


def stream_hash(text: str) -> int:
    """Java's ``String.hashCode`` over UTF-16 code units, as the streams adapter computes it."""
    units = text.encode("utf-16-be", "surrogatepass")
    value = 0
    for i in range(0, len(units), 2):
        value = (value * 31 + (units[i] << 8 | units[i + 1])) & 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


def _is_durable(message: ClusterMessage) -> bool:
    # The adapter's isEphemeral(), inverted: what goes to the stream.
    if isinstance(message, Broadcast):
        return message.request_id is None
    return isinstance(message, _DURABLE)


class StreamsFormat:
    """``@socket.io/redis-streams-adapter`` 0.3: ``prefix`` is Node's ``channelPrefix``,
    ``stream_name``/``max_len``/``stream_count`` its ``streamName``/``maxLen``/``streamCount``."""

    __slots__ = ("_prefix", "_stream_name", "_max_len", "_stream_count", "_max_size")

    def __init__(
        self,
        prefix: str = "socket.io",
        stream_name: str = "socket.io",
        max_len: int = 10_000,
        stream_count: int = 1,
        *,
        max_message_size: int = MAX_MESSAGE_SIZE,
    ) -> None:
        if stream_count < 1:
            raise ValueError("stream_count must be at least 1")
        if max_len < 1:
            raise ValueError("max_len must be at least 1")
        self._prefix = prefix
        self._stream_name = stream_name
        self._max_len = max_len
        self._stream_count = stream_count
        self._max_size = max_message_size

    @property
    def name(self) -> str:
        return "streams"

    @property
    def max_len(self) -> int:
        """The approximate MAXLEN of each XADD (called by the adapter)."""
        return self._max_len

    def stream_key(self, nsp: str) -> str:
        """The stream a namespace's entries go to (``streamName-i`` with several streams; the
        remainder keeps JavaScript's sign, so ``socket.io--1`` is a possible name)."""
        if self._stream_count == 1:
            return self._stream_name
        hashed = stream_hash(nsp)
        index = abs(hashed) % self._stream_count
        return f"{self._stream_name}-{-index if hashed < 0 else index}"

    def subscriptions(self, nsp: str, uid: str) -> Subscriptions:
        return Subscriptions(
            channels=(f"{self._prefix}#{nsp}#", f"{self._prefix}#{nsp}#{uid}#"),
            streams=(self.stream_key(nsp),),
        )

    def room_channel(self, nsp: str, room: Room) -> str | None:
        return None

    def count_channel(self, nsp: str) -> tuple[str, str]:
        return "NUMSUB", f"{self._prefix}#{nsp}#"

    def encode(self, message: ClusterMessage, reply_to: str | None = None) -> list[Outgoing]:
        type_, data = cluster_envelope_data(message)
        if _is_durable(message):
            text: bytes | None = None
            if type_ in MAY_CARRY_BINARY:
                text = to_json_unless_binary(data)
                encoded = base64.b64encode(pack(data)).decode() if text is None else text.decode()
            else:
                encoded = to_json(data).decode()
            fields = (
                ("uid", message.uid or ""), ("nsp", message.nsp), ("type", str(type_)),
                ("data", encoded),
            )
            return [Outgoing(self.stream_key(message.nsp), fields=fields)]
        envelope: dict[str, Any] = {"type": type_, "data": data}
        if message.uid is not None:
            envelope["uid"] = message.uid
        envelope["nsp"] = message.nsp
        if type_ in RESPONSE_TYPES:
            if reply_to is None:
                raise ValueError("a response needs the requester's uid (reply_to)")
            channel = f"{self._prefix}#{message.nsp}#{reply_to}#"
        else:
            channel = f"{self._prefix}#{message.nsp}#"
        return [Outgoing(channel, pack(envelope))]

    def decode(self, channel: str, payload: bytes) -> ClusterMessage | None:
        # Node always packs these; JSON is accepted too, as on the sharded channels.
        return envelope_message(sniff(payload, self._max_size))

    def decode_entry(self, stream: str, fields: dict[bytes, bytes]) -> ClusterMessage | None:
        """An XREAD entry; entries without ``nsp`` are skipped, as Node skips them."""
        raw_nsp = fields.get(b"nsp")
        if not raw_nsp:
            return None
        try:
            nsp = raw_nsp.decode()
            uid = fields.get(b"uid", b"").decode()
            type_ = int(fields.get(b"type", b""), 10)
        except (UnicodeDecodeError, ValueError) as exc:
            raise WireError(f"malformed stream entry: {exc}") from exc
        raw = fields.get(b"data")
        data: Any = None
        if raw:
            if raw[:1] == b"{":
                data = from_json(raw, self._max_size)
            else:
                if len(raw) > self._max_size * 4 // 3 + 4:
                    raise WireError("stream entry data exceeds the size limit")
                try:
                    packed = base64.b64decode(raw, validate=True)
                except (binascii.Error, ValueError) as exc:
                    raise WireError(f"malformed base64 in a stream entry: {exc}") from exc
                data = from_msgpack(packed, self._max_size)
        return cluster_message(type_, data, uid, nsp)
