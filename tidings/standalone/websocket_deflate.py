"""WebSockets that negotiated permessage-deflate: what they send is compressed.

Only connections that negotiated compression are of these classes, so a server
without it (the default) runs ``WebSocketProtocol``'s hot path untouched.

A data message of at least ``DeflateOptions.threshold`` bytes is compressed. A
broadcast (``send_prepared``) to a peer that takes messages without context
(``server_no_context_takeover``) writes frames the message compressed once for
all such peers; with context takeover the stream is the connection's own, so the
message is compressed again for each of them. ``compress=False`` on the message
sends its plain frames.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from tidings.engine.io import HttpRequest, PreparedFrames
from tidings.hosting import WebSocketRouteLike
from tidings.protocol.websocket import Opcode
from tidings.protocol.websocket.deflate import (
    DeflateOptions,
    PerMessageDeflate,
    encode_compressed_frame,
    negotiate,
)
from tidings.protocol.websocket.frames import encode_frame
from tidings.standalone.context import ConnectionContext
from tidings.standalone.route_websocket import RouteWebSocketProtocol
from tidings.standalone.websocket_protocol import ListenerT, WebSocketProtocol

__all__ = ["DeflateRouteWebSocketProtocol", "DeflateWebSocketProtocol", "deflate_for", "protocol_for"]

_TEXT = int(Opcode.TEXT)
_BINARY = int(Opcode.BINARY)


class _Compressing:
    """The sending side of a deflate connection, shared by both classes below."""

    __slots__ = ()

    if TYPE_CHECKING:
        _codec: PerMessageDeflate
        _open: bool

        def _queue_frame(self, frame: bytes) -> None: ...

    def _frame(self, opcode: int, payload: bytes) -> bytes:
        codec = self._codec
        if len(payload) >= codec.options.threshold:
            return encode_compressed_frame(opcode, codec.compress(payload))
        return encode_frame(opcode, payload)

    def send_text(self, data: str) -> None:
        if self._open:
            self._queue_frame(self._frame(_TEXT, data.encode("utf-8")))

    def send_bytes(self, data: bytes) -> None:
        if self._open:
            self._queue_frame(self._frame(_BINARY, data))

    def send_prepared(self, prepared: PreparedFrames) -> None:
        if not self._open:
            return
        if not prepared.compress:
            self._queue_frame(prepared.ws_frames)
        elif self._codec.shared:
            self._queue_frame(prepared.deflated_frames(self._codec))
        else:
            self._queue_frame(b"".join(self._frame(op, p) for op, p in prepared.ws_payloads))


class DeflateWebSocketProtocol(_Compressing, WebSocketProtocol[ListenerT]):
    """An engine WebSocket with permessage-deflate."""

    __slots__ = ("_codec",)

    def __init__(
        self,
        context: ConnectionContext,
        transport: asyncio.Transport,
        max_message_size: int,
        peer: tuple[str, int] | None,
        deflate: PerMessageDeflate,
    ) -> None:
        super().__init__(context, transport, max_message_size, peer, deflate)
        self._codec = deflate


class DeflateRouteWebSocketProtocol(_Compressing, RouteWebSocketProtocol):
    """A raw route's WebSocket with permessage-deflate."""

    __slots__ = ("_codec",)

    def __init__(
        self,
        context: ConnectionContext,
        transport: asyncio.Transport,
        max_message_size: int,
        peer: tuple[str, int] | None,
        write_limit: int,
        deflate: PerMessageDeflate,
    ) -> None:
        super().__init__(context, transport, max_message_size, peer, write_limit, deflate)
        self._codec = deflate


def deflate_for(
    request: HttpRequest, target: object, route: WebSocketRouteLike | None
) -> PerMessageDeflate | None:
    """The compression state of a WebSocket about to open, or None: when the engine's
    ``per_message_deflate`` (or the route's) is set and the client offered an acceptable
    configuration."""
    holder = getattr(route if route is not None else target, "options", None)
    options = getattr(holder, "per_message_deflate", None)
    if not isinstance(options, DeflateOptions):
        return None
    agreement = negotiate(request.headers.get("sec-websocket-extensions"), options)
    return None if agreement is None else PerMessageDeflate(agreement, options)


def protocol_for(
    context: ConnectionContext,
    transport: asyncio.Transport,
    max_message_size: int,
    peer: tuple[str, int] | None,
    route: WebSocketRouteLike | None,
    codec: PerMessageDeflate | None,
) -> WebSocketProtocol[Any]:
    """The protocol object of an accepted WebSocket: an engine's or a raw route's, with
    compression only when it was negotiated."""
    if route is None:
        if codec is None:
            return WebSocketProtocol(context, transport, max_message_size, peer)
        return DeflateWebSocketProtocol(context, transport, max_message_size, peer, codec)
    if codec is None:
        return RouteWebSocketProtocol(context, transport, max_message_size, peer, route.write_limit)
    return DeflateRouteWebSocketProtocol(
        context, transport, max_message_size, peer, route.write_limit, codec
    )
