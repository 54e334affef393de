"""``SocketContext``: what an ``EngineSocket`` is given by its server, and nothing more.

A socket needs the time, a place on the deadline heap, a way to have its held
poll answered on the next loop turn, someone to tell that it closed, the
handler and the options. The server builds one context and hands it to every
socket it opens, so the socket never sees the server (as uvicorn hands its
protocols a config and a small server state). Values the hot paths read are
plain attributes: one load each, no call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from tidings.engine.backlog import SlowConsumerCounts
from tidings.engine.handler import EngineHandler
from tidings.engine.options import EngineOptions
from tidings.protocol.engineio.events import Closed

__all__ = ["CHECK_EVERY", "WS_WRITABLE_HIGH_WATER", "SocketContext"]

#: The broadcast path asks the transport for its buffered amount once every this many sends.
CHECK_EVERY = 16

#: A WebSocket with less than this queued for the kernel counts as writable (volatile emits).
WS_WRITABLE_HIGH_WATER = 64 * 1024

S = TypeVar("S")


class SocketContext(Generic[S]):
    """Built by ``EngineServer``, read by every ``EngineSocket`` it opens (``S``: the socket type)."""

    __slots__ = (
        "handler",
        "last_query_string",
        "max_buffered_bytes",
        "now",
        "options",
        "poll_high_water",
        "release_soon",
        "schedule",
        "slow_consumers",
        "socket_closed",
        "unchecked_size",
        "ws_high_water",
    )

    def __init__(
        self,
        *,
        handler: EngineHandler[S],
        options: EngineOptions,
        now: Callable[[], float],
        schedule: Callable[[S, float | None], None],
        release_soon: Callable[[S], None],
        socket_closed: Callable[[S, Closed], None],
    ) -> None:
        #: The layer above: told of every message, and of each socket's close.
        self.handler = handler
        self.options = options
        #: The loop's monotonic clock.
        self.now = now
        #: ``schedule(socket, when)``: wake ``socket.on_deadline`` by ``when`` (None: never).
        self.schedule = schedule
        #: ``release_soon(socket)``: call ``socket.release_poll()`` on the next loop turn.
        self.release_soon = release_soon
        #: ``socket_closed(socket, event)``: the session ended; forget it, tell the handler.
        self.socket_closed = socket_closed
        #: A socket's outgoing buffer limit (``options.max_buffered_bytes``).
        self.max_buffered_bytes = options.max_buffered_bytes
        #: Largest message the fast send paths write without checking the buffer limit at
        #: once: what goes unchecked for CHECK_EVERY sends stays under the limit.
        self.unchecked_size = options.max_buffered_bytes // CHECK_EVERY
        #: A polling session that holds more stops taking droppable messages: they wait in
        #: its backlog, where the slow-consumer policy can still drop them.
        self.poll_high_water = options.max_buffered_bytes // 2
        #: The same for a WebSocket's transport (below the limit, however small it is set).
        self.ws_high_water = min(WS_WRITABLE_HIGH_WATER, options.max_buffered_bytes // 2)
        #: What the slow-consumer policies did, for every socket of this server.
        self.slow_consumers = SlowConsumerCounts()
        #: The query string the last socket kept; sockets opened with an equal one share it.
        self.last_query_string = ""
