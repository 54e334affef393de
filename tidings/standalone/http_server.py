"""The built-in asyncio server: ``serve`` (async context manager) and ``run`` (blocking).

Graceful shutdown, in order: stop accepting; ``await app.shutdown(timeout)`` so
the application tells its clients and lets handlers finish; close idle HTTP
connections and let busy ones answer their request; close remaining
WebSockets with 1001; when the time is up, drop whatever is left.
"""

from __future__ import annotations

import asyncio
import asyncio.selector_events
import dataclasses
import logging
import signal
import socket
from collections.abc import Callable
from ssl import SSLContext
from types import TracebackType
from typing import Self

from tidings.hosting import AppLike, EngineLike, HostedApp, StaticFilesMap
from tidings.protocol.websocket import CloseCode
from tidings.standalone.context import ConnectionContext
from tidings.standalone.handoff import HandoffOptions
from tidings.standalone.handoff_protocol import HandoffHttpProtocol, adopter
from tidings.standalone.handoff_router import HandoffRouter
from tidings.standalone.http_protocol import HttpProtocol
from tidings.standalone.loops import LoopName, loop_factory
from tidings.standalone.open_files import AcceptErrors, connection_cap
from tidings.standalone.options import HttpOptions
from tidings.standalone.relay import Relay
from tidings.standalone.websocket_protocol import WebSocketProtocol

logger = logging.getLogger("tidings.standalone")


class HttpServer:
    """A listening HTTP/1.1 + WebSocket server; use ``serve(...)`` to make one.

    ``handoff`` (``HandoffOptions``): serve behind a balancer without sticky sessions,
    handing each request for another process's session to that process
    (``tidings.standalone.handoff``). ``reuse_port``: listen with SO_REUSEPORT, so
    that several processes share the port and the kernel spreads connections.
    ``sock``: serve on this listening socket (one a supervisor bound and handed over,
    as for ``tidings serve --reload``) instead of binding ``host`` and ``port``.
    """

    def __init__(
        self,
        app: EngineLike | AppLike,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        static_files: StaticFilesMap | None = None,
        backlog: int = 2048,
        options: HttpOptions | None = None,
        handoff: HandoffOptions | None = None,
        reuse_port: bool = False,
        ssl: SSLContext | None = None,
        sock: socket.socket | None = None,
    ) -> None:
        self.app = app
        self.reuse_port = reuse_port
        """SO_REUSEPORT: several processes listen on the same port (``tidings serve --workers``)."""
        self._hosted = HostedApp(app)
        self.engine = self._hosted.engine
        self.host = host
        self.port = port
        self.backlog = backlog
        self.options = options or HttpOptions()
        self.handoff = handoff
        self.reuse_port = reuse_port
        if ssl is not None and handoff is not None:
            # A TLS session cannot be passed to another process with its socket.
            raise ValueError("ssl and handoff do not go together: end TLS at the balancer")
        self.ssl = ssl
        """TLS: wss:// and https://, with this context's certificate."""
        self.sock = sock
        if handoff is not None:
            set_owner = getattr(self.engine, "set_owner", None)
            if set_owner is None:
                raise TypeError("handoff needs an engine that tags its session ids (EngineServer)")
            set_owner(handoff.owner)
        self._router: HandoffRouter | None = None
        self._static = self._hosted.static(static_files)
        self._context: ConnectionContext | None = None
        self._server: asyncio.Server | None = None
        self._closed: asyncio.Event | None = None
        self._close_task: asyncio.Task[None] | None = None
        self._accept_errors: AcceptErrors | None = None

    @property
    def connection_count(self) -> int:
        """Open connections, HTTP and WebSocket."""
        return 0 if self._context is None else len(self._context.connections)

    async def start(self) -> None:
        if self._server is not None:
            raise RuntimeError("server already started")
        loop = asyncio.get_running_loop()
        # The app opens what it needs (a history store) and accepts sessions before we listen.
        await self._hosted.startup()
        options = self.options
        cap = connection_cap(options.max_connections)
        if cap < options.max_connections:  # what fits under the open-file limit
            options = dataclasses.replace(options, max_connections=cap)
        context = self._context = ConnectionContext(
            loop=loop,
            options=options,
            engine=self.engine,
            routes=self._hosted.routes,
            static=self._static,
            flush_batch=WebSocketProtocol.flush_batch,
            scheme="https" if self.ssl is not None else "http",
        )
        self._closed = asyncio.Event()
        factory: Callable[[], HttpProtocol]
        router = None
        if self.handoff is not None:
            router = self._router = HandoffRouter(self.handoff, loop)
            factory = lambda: HandoffHttpProtocol(context, router)
        else:
            factory = lambda: HttpProtocol(context)
        if self.sock is not None:
            self._server = await loop.create_server(
                factory, sock=self.sock, backlog=self.backlog, ssl=self.ssl
            )
            self.host = str(self.sock.getsockname()[0])
        else:
            self._server = await loop.create_server(
                factory,
                self.host,
                self.port,
                backlog=self.backlog,
                reuse_address=True,
                reuse_port=self.reuse_port,
                ssl=self.ssl,
            )
        self.port = int(self._server.sockets[0].getsockname()[1])
        self._accept_errors = AcceptErrors(loop)
        if router is not None:
            try:
                await router.start(self.host, self.port, adopter(context, router))
            except BaseException:
                await self.close(0)
                raise

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- shutdown --------------------------------------------------------------

    async def close(self, timeout: float = 10.0) -> None:
        """Graceful shutdown within ``timeout`` seconds; concurrent calls wait for the first."""
        if self._server is None:
            return  # never started
        if self._close_task is None:
            self._close_task = asyncio.ensure_future(self._close(timeout))
        await asyncio.shield(self._close_task)

    async def wait_closed(self) -> None:
        """Until ``close`` has finished (whoever called it)."""
        if self._closed is None:
            raise RuntimeError("server not started")
        await self._closed.wait()

    async def _close(self, timeout: float) -> None:
        context = self._context
        assert self._server is not None and context is not None and self._closed is not None
        loop = context.loop
        deadline = loop.time() + timeout
        context.closing = True  # from now on a new connection is refused at once
        stop_accepting(loop, self._server)
        await asyncio.sleep(0)  # connections accepted already get their transport: refused
        self._server.close()
        if self._router is not None:
            await self._router.close()
        try:
            await self._hosted.shutdown(timeout)
        except Exception:
            logger.exception("app.shutdown failed")
        for conn in list(context.connections):
            if isinstance(conn, HttpProtocol):
                conn.close_if_idle()
            elif isinstance(conn, WebSocketProtocol):
                conn.close(CloseCode.GOING_AWAY, "server shutting down")
            elif isinstance(conn, Relay):
                conn.close()  # the owner's node holds the session: the client goes there again
        if context.connections:
            remaining = max(0.0, deadline - loop.time())
            try:
                await asyncio.wait_for(context.all_closed(), remaining)
            except TimeoutError:
                logger.warning(
                    "%d connections still open at shutdown: dropped", len(context.connections)
                )
                self.abort_all()
        if self._accept_errors is not None:
            self._accept_errors.close()
        self._closed.set()

    def abort_all(self) -> None:
        """Drop every connection now (a second signal, or shutdown past its deadline)."""
        if self._context is None:
            return
        connections = self._context.connections
        for conn in list(connections):
            conn.abort()
        connections.clear()


def stop_accepting(loop: asyncio.AbstractEventLoop, server: asyncio.Server) -> None:
    """Take no more connections, before ``Server.close``. On asyncio's own loop, a connection
    accepted just before the close gets its transport a turn later; after the close that
    fails (an assertion in ``Server._attach``, CPython 3.12 and 3.13), and its socket stays
    open until garbage collection, its client waiting for an answer that never comes."""
    if isinstance(loop, asyncio.selector_events.BaseSelectorEventLoop):
        for sock in server.sockets:
            loop.remove_reader(sock.fileno())


def serve(
    app: EngineLike | AppLike,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    static_files: StaticFilesMap | None = None,
    backlog: int = 2048,
    options: HttpOptions | None = None,
    handoff: HandoffOptions | None = None,
    reuse_port: bool = False,
    ssl: SSLContext | None = None,
    sock: socket.socket | None = None,
) -> HttpServer:
    """``async with serve(app) as server:`` listens until the block ends, then closes gracefully."""
    return HttpServer(
        app,
        host,
        port,
        static_files=static_files,
        backlog=backlog,
        options=options,
        handoff=handoff,
        reuse_port=reuse_port,
        ssl=ssl,
        sock=sock,
    )


def run(
    app: EngineLike | AppLike,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    static_files: StaticFilesMap | None = None,
    shutdown_timeout: float = 10.0,
    options: HttpOptions | None = None,
    handoff: HandoffOptions | None = None,
    reuse_port: bool = False,
    loop: LoopName | None = None,
    eager_tasks: bool | None = None,
    ssl: SSLContext | None = None,
    sock: socket.socket | None = None,
) -> None:
    """Serve until SIGINT or SIGTERM, then shut down gracefully (a second signal drops everything).

    ``handoff``, ``reuse_port`` and ``sock``: see ``HttpServer``. ``loop`` (``"auto"``: uvloop when
    installed, ``"asyncio"``, ``"uvloop"``) and ``eager_tasks`` (Python 3.12+): the event
    loop to run on; by default what ``TIDINGS_LOOP`` and ``TIDINGS_EAGER_TASKS`` say."""
    server = HttpServer(
        app,
        host,
        port,
        static_files=static_files,
        options=options,
        handoff=handoff,
        reuse_port=reuse_port,
        ssl=ssl,
        sock=sock,
    )
    with asyncio.Runner(loop_factory=loop_factory(loop, eager_tasks)) as runner:
        runner.run(_run(server, shutdown_timeout))


async def _run(server: HttpServer, shutdown_timeout: float) -> None:
    await server.start()
    host = server.host
    shown = f"[{host}]" if ":" in host else host
    scheme = "https" if server.ssl is not None else "http"
    logger.info("listening on %s://%s:%d", scheme, shown, server.port)
    handoff = server.handoff
    if handoff is not None:
        logger.info(
            "owner %s: handing requests to other owners%s%s",
            handoff.owner,
            f" through {handoff.socket_dir}" if handoff.socket_dir else "",
            " and the peer directory" if handoff.peers is not None else "",
        )
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def on_signal() -> None:
        if stop.is_set():
            logger.warning("second signal: dropping every connection")
            server.abort_all()
        stop.set()

    signals = (signal.SIGINT, signal.SIGTERM)
    for sig in signals:
        try:
            loop.add_signal_handler(sig, on_signal)
        except (NotImplementedError, RuntimeError):  # not on this platform
            pass
    try:
        await stop.wait()
        logger.info("shutting down (up to %.1fs)", shutdown_timeout)
        await server.close(shutdown_timeout)
    finally:
        for sig in signals:
            try:
                loop.remove_signal_handler(sig)
            except (NotImplementedError, RuntimeError):
                pass
    logger.info("stopped")
