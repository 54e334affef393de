"""The built-in asyncio server: ``serve`` (async context manager) and ``run`` (blocking).

Graceful shutdown, in order: stop accepting; ``await app.shutdown(timeout)`` so
the application tells its clients and lets handlers finish; close idle HTTP
connections and let busy ones answer their request; close remaining
WebSockets with 1001; when the time is up, drop whatever is left.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from types import TracebackType
from typing import Self

from tidings.hosting import AppLike, EngineLike, HostedApp, StaticFilesMap
from tidings.protocol.websocket import CloseCode
from tidings.standalone.context import ConnectionContext
from tidings.standalone.http_protocol import HttpProtocol
from tidings.standalone.options import HttpOptions
from tidings.standalone.websocket_protocol import WebSocketProtocol

logger = logging.getLogger("tidings.standalone")


class HttpServer:
    """A listening HTTP/1.1 + WebSocket server; use ``serve(...)`` to make one."""

    def __init__(
        self,
        app: EngineLike | AppLike,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        static_files: StaticFilesMap | None = None,
        backlog: int = 2048,
        options: HttpOptions | None = None,
        reuse_port: bool = False,
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
        self._static = self._hosted.static(static_files)
        self._context: ConnectionContext | None = None
        self._server: asyncio.Server | None = None
        self._closed: asyncio.Event | None = None
        self._close_task: asyncio.Task[None] | None = None

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
        context = self._context = ConnectionContext(
            loop=loop,
            options=self.options,
            engine=self.engine,
            routes=self._hosted.routes,
            static=self._static,
            flush_batch=WebSocketProtocol.flush_batch,
        )
        self._closed = asyncio.Event()
        self._server = await loop.create_server(
            lambda: HttpProtocol(context),
            self.host,
            self.port,
            backlog=self.backlog,
            reuse_address=True,
            reuse_port=self.reuse_port or None,
        )
        self.port = int(self._server.sockets[0].getsockname()[1])

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
        context.closing = True
        self._server.close()
        try:
            await self._hosted.shutdown(timeout)
        except Exception:
            logger.exception("app.shutdown failed")
        for conn in list(context.connections):
            if isinstance(conn, HttpProtocol):
                conn.close_if_idle()
            elif isinstance(conn, WebSocketProtocol):
                conn.close(CloseCode.GOING_AWAY, "server shutting down")
        if context.connections:
            remaining = max(0.0, deadline - loop.time())
            try:
                await asyncio.wait_for(context.all_closed(), remaining)
            except TimeoutError:
                logger.warning(
                    "%d connections still open at shutdown: dropped", len(context.connections)
                )
                self.abort_all()
        self._closed.set()

    def abort_all(self) -> None:
        """Drop every connection now (a second signal, or shutdown past its deadline)."""
        if self._context is None:
            return
        connections = self._context.connections
        for conn in list(connections):
            conn.abort()
        connections.clear()


def serve(
    app: EngineLike | AppLike,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    static_files: StaticFilesMap | None = None,
    backlog: int = 2048,
    options: HttpOptions | None = None,
) -> HttpServer:
    """``async with serve(app) as server:`` listens until the block ends, then closes gracefully."""
    return HttpServer(app, host, port, static_files=static_files, backlog=backlog, options=options)


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def run(
    app: EngineLike | AppLike,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    static_files: StaticFilesMap | None = None,
    shutdown_timeout: float = 10.0,
    options: HttpOptions | None = None,
) -> None:
    """Serve until SIGINT or SIGTERM, then shut down gracefully (a second signal drops everything)."""
    server = HttpServer(app, host, port, static_files=static_files, options=options)
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        runner.run(_run(server, shutdown_timeout))


async def _run(server: HttpServer, shutdown_timeout: float) -> None:
    await server.start()
    host = server.host
    shown = f"[{host}]" if ":" in host else host
    logger.info("listening on http://%s:%d", shown, server.port)
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
