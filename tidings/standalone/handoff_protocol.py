"""``HandoffHttpProtocol``: the HTTP protocol of a server with ``HandoffOptions``.

It keeps the bytes of the request being read from its first byte until the
end of its head, and decides there, before reading any body: a request under
the engine's path whose ``sid`` names another owner is not parsed further, and
the connection (those bytes, whatever follows, and every later request on it)
goes to the owner, after the answers to the requests before it have left. A
server without hand-off uses ``HttpProtocol`` itself and pays nothing for this.

Where a request starts is known without help from the parser: at the start of
a read when the previous request ended with the read before (always, unless
the client pipelines), else where the previous request's head ended plus its
Content-Length, worked out only then (a request for one of our own sessions
costs a substring search and a comparison). After a chunked body that ended
inside a read, the next request's start is unknown: that one request is
served here.
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

import httptools

from tidings.standalone.context import ConnectionContext
from tidings.standalone.fd_passing import pass_connection
from tidings.standalone.handoff import HOP_HEADER
from tidings.standalone.handoff_router import HandoffRouter
from tidings.standalone.http_messages import body_expected
from tidings.standalone.http_protocol import HAND_OFF, HttpProtocol
from tidings.standalone.relay import Relay

logger = logging.getLogger("tidings.standalone")

__all__ = ["HandOff", "HandoffHttpProtocol", "adopter"]

_SID = re.compile(rb"[?&]sid=([^&#]*)")
_OWNER = re.compile(rb"[A-Za-z0-9_-]{1,24}")
_HOP = HOP_HEADER.lower().encode("ascii")
_HEAD_END = b"\r\n\r\n"
#: ``_next`` before it is worked out.
_PENDING = -2


class HandOff(Exception):
    """Raised from ``on_headers_complete`` to stop the parser: the request is ``owner``'s."""

    def __init__(self, owner: str) -> None:
        super().__init__(owner)
        self.owner = owner


class HandoffHttpProtocol(HttpProtocol):
    """An ``HttpProtocol`` that hands connections for other owners' sessions to them."""

    __slots__ = (
        "_chunk",
        "_diverted",
        "_head_headers",
        "_initial",
        "_late",
        "_may_relay",
        "_next",
        "_no_handoff",
        "_own_sid",
        "_prefix",
        "_router",
        "_seen",
        "_start",
    )

    def __init__(
        self, context: ConnectionContext, router: HandoffRouter, initial: bytes = b""
    ) -> None:
        super().__init__(context)
        self._router = router
        #: ``sid=`` values of our own sessions start with this.
        self._own_sid = router.owner_bytes + b"."
        #: Bytes read before this process had the connection (one handed to us).
        self._initial = initial
        # Offsets in the connection's byte stream: bytes before the current read, the
        # first byte of the request being read, where the next request starts (-1: unknown).
        self._seen = 0
        self._start = 0
        self._next = 0
        self._chunk = b""  # the read being parsed
        self._head_headers: list[tuple[bytes, bytes]] = []  # of the request ``_next`` is after
        self._prefix = b""  # the request's bytes from reads before this one, while in its head
        self._diverted: tuple[str, bytes] | None = None
        # Read after the request was diverted and before the connection left: all of it
        # goes with the connection (None: not diverting).
        self._late: list[bytes] | None = None
        # False for a request relayed here from another node: it may only be passed on
        # to a process of this machine (the owner's socket), never relayed again.
        self._may_relay = True
        self._no_handoff = False

    # -- asyncio.Protocol ------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        initial = self._initial
        if initial:
            self._initial = b""
            if not transport.is_closing():
                self.data_received(initial)
                if self._read_paused:
                    # uvloop starts reading when connection_made returns: pause again then.
                    self._context.loop.call_soon(self._pause_again)

    def _pause_again(self) -> None:
        transport = self._transport
        if self._read_paused and transport is not None and not transport.is_closing():
            transport.pause_reading()

    def data_received(self, data: bytes) -> None:
        if self._parser is None:
            late = self._late
            if late is not None:
                late.append(data)
            else:
                super().data_received(data)
            return
        self._chunk = data
        super().data_received(data)
        seen = self._seen
        end = seen + len(data)
        if self._parser is None:
            pass  # handed off, upgraded or failed
        elif self._in_head:
            start = self._start
            if start >= seen:
                self._prefix = data[start - seen :]
            elif start >= 0:
                self._prefix += data
        elif not self._receiving:
            self._next = end  # between requests: the next one starts with the next read
        elif self._next == _PENDING:
            self._next = self._resolve_next()  # a body goes on: its head ended in this read
        self._chunk = b""
        self._seen = end

    # -- httptools callbacks ---------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        start = self._next
        if start == _PENDING:
            start = self._resolve_next()  # pipelined: it starts where the last one ended
        self._start = start
        self._prefix = b""

    def on_headers_complete(self) -> None:
        # Decided before anything is answered (a 100 Continue is the owner's to send).
        url = self._url
        at = url.find(b"sid=")
        if at >= 0 and not url.startswith(self._own_sid, at + 4):
            owner = self._foreign_owner()
            if owner is not None:
                raise HandOff(owner)
        self._no_handoff = False
        super().on_headers_complete()
        # Where the next request starts is worked out only if it is needed: when one
        # starts in the read this head ended in, or the body goes on past it.
        self._head_headers = self._headers
        self._next = _PENDING

    def _resolve_next(self) -> int:
        """Where the request after the current one starts (its head ended in this read)."""
        length, has_body, _ = body_expected(self._head_headers)
        if self._start < 0 or (has_body and not length):
            return -1  # chunked: its end is the parser's to find
        end = self._head_end()
        return -1 if end < 0 else end + length

    def _head_end(self) -> int:
        """The offset just past this request's head (which ends in the current read)."""
        chunk = self._chunk
        seen = self._seen
        start = self._start
        if start >= seen:
            found = chunk.find(_HEAD_END, start - seen)
            return -1 if found < 0 else seen + found + 4
        tail = self._prefix[-3:]
        found = (tail + chunk).find(_HEAD_END)
        return -1 if found < 0 else seen - len(tail) + found + 4

    def _foreign_owner(self) -> str | None:
        """The owner to hand this request to, or None to serve it here (an unknown
        session is then answered as the protocol says: 400)."""
        if self._no_handoff:
            self._no_handoff = False
            return None
        url = self._url
        match = _SID.search(url)
        if match is None:
            return None
        sid = match.group(1)
        owner, dot, _ = sid.partition(b".")
        if not dot or owner == self._router.owner_bytes or _OWNER.fullmatch(owner) is None:
            return None
        try:
            path = httptools.parse_url(url).path or b"/"
        except httptools.HttpParserInvalidURLError:
            return None
        if not self._context.engine.matches(unquote(path.decode("latin-1"), errors="replace")):
            return None
        name = owner.decode("ascii")
        shown = sid.decode("latin-1")
        hops = [value for header, value in self._headers if header.lower() == _HOP]
        self._may_relay = not hops
        if hops and (
            any(hop.startswith(b"fd") for hop in hops) or self._router.local_path(name) is None
        ):
            # Passed to this process, or relayed to this machine and not for one of its
            # processes: the sender's information was stale. Not again: no loops.
            logger.info("sid=%s: handed on once already, not again; unknown here", shown)
            return None
        if not self._router.may_reach(name):
            logger.info("sid=%s: owner %s is not known here; unknown session", shown, name)
            return None
        if self._start < 0:
            logger.info("sid=%s: request start not known after a chunked body; served here", shown)
            return None
        return name

    # -- the hand-off ----------------------------------------------------------

    def _callback_failed(self, cause: BaseException | None) -> None:
        if not isinstance(cause, HandOff):
            super()._callback_failed(cause)
            return
        # The parser stopped at the end of the head: nothing more is read as ours.
        self._parser = None
        self._cancel_timer()
        self._pause_reading()
        self._late = []
        self._diverted = (cause.owner, self._request_bytes())
        self._queue.append((None, False, False, HAND_OFF, cause.owner))

    def _request_bytes(self) -> bytes:
        """The current request from its first byte, and all that was read after it."""
        chunk = self._chunk
        offset = self._start - self._seen
        if offset >= 0:
            return chunk[offset:] if offset else chunk
        return self._prefix + chunk

    async def _hand_off(self, transport: asyncio.Transport) -> bool:
        diverted = self._diverted
        assert diverted is not None
        self._diverted = None
        owner, first = diverted
        transport.pause_reading()  # again: see connection_made
        router = self._router
        timeout = router.options.connect_timeout
        # Bounded as a request's head is: a client that does not read what it was
        # answered, or an owner that does not accept, cannot hold the connection here.
        self._arm(self._options.header_timeout)
        # The answers to the requests before this one leave first, from here.
        transport.set_write_buffer_limits(high=0)
        while transport.get_write_buffer_size() and not transport.is_closing():
            await self._wait_drained()
        transport.set_write_buffer_limits(high=self._options.write_buffer_limit)
        if transport.is_closing():
            return False
        # Reading is paused: nothing more comes until the connection has left.
        late = self._late or []
        raw = b"".join((first, *late))
        self._late = None
        failures: list[str] = []
        path = router.local_path(owner)
        if path is not None:
            sock: Any = transport.get_extra_info("socket")
            marked = _mark(raw, "fd", router)
            try:
                await asyncio.wait_for(
                    pass_connection(router.loop, path, sock.fileno(), marked), timeout
                )
            except TimeoutError:
                failures.append(f"{path}: no answer in {timeout}s")
            except OSError as exc:
                failures.append(f"{path}: {exc.strerror or exc}")
            else:
                self._cancel_timer()
                # The owner holds the connection now: close our descriptor only (no shutdown).
                transport.abort()
                return False
        if (
            router.options.peers is not None
            and self._may_relay
            and await self._relay(transport, owner, _mark(raw, "relay", router), failures)
        ):
            self._cancel_timer()
            return False
        logger.info(
            "owner %s unreachable (%s): answered as an unknown session",
            owner,
            "; ".join(failures) or "no address",
        )
        self._serve_here(transport, raw)
        return True

    async def _relay(
        self, transport: asyncio.Transport, owner: str, marked: bytes, failures: list[str]
    ) -> bool:
        """Pipe the connection to ``owner``'s node; False if it cannot be reached."""
        router = self._router
        timeout = router.options.connect_timeout
        try:
            address = await asyncio.wait_for(router.address_of(owner), timeout)
        except Exception as exc:
            failures.append(f"peer directory: {exc!r}")
            return False
        if address is None:
            failures.append("no address in the peer directory")
            return False
        context = self._context
        relay = Relay(context.connection_closed)
        try:
            await asyncio.wait_for(
                router.loop.create_connection(relay.upstream_factory, address[0], address[1]),
                timeout,
            )
        except (OSError, TimeoutError) as exc:
            router.forget(owner)
            failures.append(f"{address[0]}:{address[1]}: {exc}")
            return False
        if transport.is_closing():
            relay.abort()
            return True
        context.connection_upgraded(self, relay)
        relay.start(transport, marked)
        return True

    def _serve_here(self, transport: asyncio.Transport, raw: bytes) -> None:
        """Parse the request again, as ours: the engine answers an unknown session."""
        self._parser = httptools.HttpRequestParser(self)
        self._seen = self._start = self._next = 0
        self._chunk = b""
        self._prefix = b""
        self._no_handoff = True
        if self._read_paused:
            self._read_paused = False
            transport.resume_reading()
        self.data_received(raw)


def _mark(raw: bytes, how: str, router: HandoffRouter) -> bytes:
    """``raw`` with a hop header after the request line of its first request:
    ``{how} {our tag}``, ``how`` being "fd" or "relay"."""
    raw = raw.lstrip(b"\r\n")
    line_end = raw.find(b"\r\n") + 2
    hop = f"{HOP_HEADER}: {how} {router.owner}\r\n".encode("ascii")
    return b"".join((raw[:line_end], hop, raw[line_end:]))


def adopter(
    context: ConnectionContext, router: HandoffRouter
) -> Callable[[socket.socket, bytes], None]:
    """``adopt(sock, data)`` for the router's receiver: serve a connection passed to us."""
    loop = context.loop
    pending: set[asyncio.Task[Any]] = set()

    def adopt(sock: socket.socket, data: bytes) -> None:
        task = loop.create_task(
            loop.connect_accepted_socket(
                lambda: HandoffHttpProtocol(context, router, data), sock
            )
        )
        pending.add(task)
        task.add_done_callback(_adopted(sock, pending))

    return adopt


def _adopted(
    sock: socket.socket, pending: set[asyncio.Task[Any]]
) -> Callable[[asyncio.Task[Any]], None]:
    def done(task: asyncio.Task[Any]) -> None:
        pending.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.warning("adopting a handed-off connection failed: %r", task.exception())
            sock.close()

    return done
