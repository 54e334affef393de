"""Relaying a connection to another node over TCP, both ways, with backpressure.

Used when a session's owner runs on another machine: the client's connection
stays here and every byte from then on is piped to a connection to the owner's
node, and back. Each side stops reading while the other side's write buffer is
full; an end of stream is passed on (half-close); when either side is gone the
other is closed once what was already written to it has left.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import cast

from tidings.protocol.engineio.requests import ErrorCode, RequestError

__all__ = ["Relay"]

#: What a client hears when the owner's node went away before answering: the protocol's
#: answer for a session nobody holds, so the client reconnects (an empty close would make
#: a balancer such as nginx count this healthy node as failed).
_OWNER_GONE = (
    b"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nConnection: close\r\n"
    b"Content-Length: %d\r\n\r\n%s"
)


class _Pipe(asyncio.Protocol):
    """One side of a relay: what it reads, the other side writes."""

    __slots__ = ("_relay", "eof", "other", "received", "transport")

    def __init__(self, relay: Relay) -> None:
        self._relay = relay
        self.transport: asyncio.Transport | None = None
        self.other: _Pipe | None = None
        self.eof = False
        self.received = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.received = True
        other = self.other
        if other is not None and other.transport is not None:
            other.transport.write(data)

    def eof_received(self) -> bool | None:
        self.eof = True
        other = self.other
        if self._relay.silent_upstream(self):
            return None
        if other is None or other.transport is None or other.eof:
            return None  # both directions are done: close
        if other.transport.can_write_eof():
            other.transport.write_eof()
            return True  # keep the other direction open
        return None

    def pause_writing(self) -> None:
        other = self.other
        if other is not None and other.transport is not None:
            other.transport.pause_reading()

    def resume_writing(self) -> None:
        other = self.other
        if other is not None and other.transport is not None:
            other.transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        other = self.other
        self._relay.silent_upstream(self)
        if other is not None and other.transport is not None:
            other.transport.close()
        self._relay.side_lost()


class Relay:
    """A client's connection piped to a connection to another node; tracked by the
    server as one connection (``abort`` drops both)."""

    __slots__ = ("_client", "_on_closed", "_open", "_upstream")

    def __init__(self, on_closed: Callable[[Relay], None]) -> None:
        self._on_closed = on_closed
        self._client = _Pipe(self)
        self._upstream = _Pipe(self)
        self._client.other = self._upstream
        self._upstream.other = self._client
        self._open = 2

    def upstream_factory(self) -> asyncio.Protocol:
        """The protocol of the connection to the other node (for ``create_connection``)."""
        return self._upstream

    def start(self, client: asyncio.Transport, first: bytes) -> None:
        """Take over the client's transport (paused for reading) once the connection to
        the other node is made; ``first``: what was read of the client, to send first."""
        upstream = self._upstream.transport
        assert upstream is not None
        client.set_protocol(self._client)
        self._client.connection_made(client)
        upstream.write(first)
        if client.is_closing():
            upstream.close()
        else:
            client.resume_reading()

    def silent_upstream(self, pipe: _Pipe) -> bool:
        """``pipe`` ended: when it is the owner's side and it never answered, tell the
        client its session is unknown (once); True when that was done."""
        if pipe is not self._upstream or pipe.received:
            return False
        pipe.received = True  # once
        client = self._client.transport
        if client is None or client.is_closing():
            return False
        body = RequestError.of(ErrorCode.UNKNOWN_SID).body
        client.write(_OWNER_GONE % (len(body), body))
        client.close()
        return True

    def side_lost(self) -> None:
        self._open -= 1
        if self._open == 0:
            self._on_closed(self)

    def close(self) -> None:
        """Close both sides once what was written to them has left."""
        for pipe in (self._client, self._upstream):
            if pipe.transport is not None:
                pipe.transport.close()

    def abort(self) -> None:
        for pipe in (self._client, self._upstream):
            if pipe.transport is not None:
                pipe.transport.abort()
