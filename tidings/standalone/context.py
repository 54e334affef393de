"""What a connection's protocol needs of the server that accepted it.

The server makes one ``ConnectionContext`` when it starts and hands it to every
``HttpProtocol``, which hands it on to the ``WebSocketProtocol`` of an upgrade,
as uvicorn hands its protocols a config and a server state: a protocol never
sees the server. What a protocol reads per message it copies into its own
slots when it is made.

The ``Flusher`` schedules the end-of-turn write pass all WebSockets share: a
connection that queues frames adds itself once per turn, and one ``call_soon``
per turn (not one per connection) hands them all to the function that writes
them (``WebSocketProtocol.flush_batch``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

from tidings.engine.static import StaticFiles
from tidings.hosting import EngineLike, WebSocketRoutesLike
from tidings.standalone.options import HttpOptions

logger = logging.getLogger("tidings.standalone")


class Connection(Protocol):
    """An accepted connection, as the server tracks it."""

    def abort(self) -> None: ...


T = TypeVar("T")


class Flusher(Generic[T]):
    """One end-of-turn write pass for all connections that queued frames this turn."""

    __slots__ = ("_flush_batch", "_loop", "waiting")

    def __init__(
        self, loop: asyncio.AbstractEventLoop, flush_batch: Callable[[list[T]], None]
    ) -> None:
        self._loop = loop
        self._flush_batch = flush_batch
        #: Connections to flush at the end of this turn. A connection appends itself
        #: (at most once a turn), calling ``schedule`` first when it finds it empty.
        self.waiting: list[T] = []

    def add(self, conn: T) -> None:
        """Called by a connection with frames to write (its hot paths inline this)."""
        waiting = self.waiting
        if not waiting:
            self._loop.call_soon(self._flush)
        waiting.append(conn)

    def schedule(self) -> None:
        """Called by a connection about to append itself to an empty ``waiting``."""
        self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        waiting = self.waiting
        batch = waiting.copy()
        waiting.clear()  # a connection queuing frames from here on schedules the next pass
        self._flush_batch(batch)


class ConnectionContext:
    """The server's state its connections share: options, what it serves, the
    flusher, connection tracking and whether it is shutting down."""

    __slots__ = (
        "_all_gone",
        "_refused",
        "access_log",
        "closing",
        "connections",
        "engine",
        "flusher",
        "loop",
        "max_body",
        "options",
        "routes",
        "scheme",
        "static",
    )

    def __init__(
        self,
        *,
        loop: asyncio.AbstractEventLoop,
        options: HttpOptions,
        engine: EngineLike,
        routes: WebSocketRoutesLike | None,
        static: StaticFiles | None,
        flush_batch: Callable[[list[Any]], None],
        scheme: str = "http",
    ) -> None:
        self.loop = loop
        self.options = options
        self.scheme = scheme
        """"https" when the server speaks TLS (what a trusted proxy says may override it)."""
        self.access_log = options.access_log
        """Whether each answered request is logged (at INFO on ``tidings.access``)."""
        self.engine = engine
        self.routes = routes
        self.static = static
        #: The request body limit: the engine's ``max_payload``, as under ASGI.
        self.max_body = int(engine.options.max_payload)
        self.flusher: Flusher[Any] = Flusher(loop, flush_batch)
        #: Set once by the server's ``close``: no new connection, request or upgrade.
        self.closing = False
        #: Every open connection (HTTP, or WebSocket once upgraded).
        self.connections: set[Connection] = set()
        self._all_gone = asyncio.Event()
        # Connections refused since the cap was reached (-1: below the cap).
        self._refused = -1

    def connection_made(self, conn: Connection) -> bool:
        """Called by a new ``HttpProtocol``: False when it must close at once."""
        connections = self.connections
        if self.closing:
            return False
        if len(connections) >= self.options.max_connections:
            # Logged once when reached and once when left, not per refusal: a flood of
            # connections must not become a flood of log lines.
            if self._refused < 0:
                self._refused = 0
                logger.info(
                    "connection cap reached: %d open, refusing new connections", len(connections)
                )
            self._refused += 1
            return False
        connections.add(conn)
        return True

    def connection_upgraded(self, old: Connection, new: Connection) -> None:
        """Called by an ``HttpProtocol`` that handed its transport to a WebSocket."""
        self.connections.discard(old)
        self.connections.add(new)

    def connection_closed(self, conn: Connection) -> None:
        """Called by either protocol when its transport is lost."""
        connections = self.connections
        connections.discard(conn)
        if self._refused >= 0 and len(connections) < self.options.max_connections:
            logger.info("below the connection cap again; %d connections refused", self._refused)
            self._refused = -1
        if not connections and self.closing:
            self._all_gone.set()

    async def all_closed(self) -> None:
        """Until no connection is left (called by the server's shutdown, after ``closing``)."""
        if self.connections:
            self._all_gone.clear()
            await self._all_gone.wait()
