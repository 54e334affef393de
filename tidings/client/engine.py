"""One client Engine.IO connection over aiohttp: the I/O around ``ClientSession``.

Every protocol decision is the Sans-I/O session's; this module only performs
what it asks for (a GET, a POST, the probe WebSocket, messages to write), feeds
back what arrives with the loop's monotonic time, and schedules its deadline
with ``loop.call_at``. aiohttp carries both transports, so one connection pool
and one cookie jar (sticky sessions behind a load balancer) serve both.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import urlencode

import aiohttp

from tidings.client.endpoint import EngineTarget
from tidings.client.errors import ConnectError
from tidings.protocol.engineio.client_session import (
    POLLING,
    WEBSOCKET,
    ClientSession,
    ClientSessionState,
    Opened,
    Pinged,
)
from tidings.protocol.engineio.events import Closed, MessageReceived, Upgraded, UpgradeFailed

__all__ = ["EngineConnection"]

logger = logging.getLogger("tidings.client")

_TRANSPORTS = (POLLING, WEBSOCKET)
# How long a local close may spend flushing its last packets.
_CLOSE_FLUSH_TIMEOUT = 5.0


class EngineConnection:
    """One Engine.IO session: opened once, closed once, never reused.

    ``on_message`` gets each message; ``on_close(reason, detail)`` is called
    once when the session ends, whichever side ended it (not when ``open()``
    itself fails: that raises ``ConnectError``); ``on_ping`` at each heartbeat.
    ``request`` holds aiohttp's per-request arguments (``request_options``).
    """

    __slots__ = (
        "_closed",
        "_headers",
        "_http",
        "_loop",
        "_max_size",
        "_on_close",
        "_on_message",
        "_on_ping",
        "_opened",
        "_poll_task",
        "_pumping",
        "_repump",
        "_request",
        "_session",
        "_stamp",
        "_target",
        "_tasks",
        "_timeout",
        "_timer",
        "_timer_at",
        "_transports",
        "_ws",
        "_ws_pending",
        "_ws_task",
        "_ws_wake",
        "_compress",
    )

    def __init__(
        self,
        http: aiohttp.ClientSession,
        target: EngineTarget,
        *,
        transports: tuple[str, ...],
        headers: dict[str, str],
        timeout: float,
        max_size: int,
        request: dict[str, Any],
        on_message: Callable[[str | bytes], None],
        on_close: Callable[[str, str], None],
        on_ping: Callable[[], None],
        compress: int = 0,
    ) -> None:
        if not transports or any(t not in _TRANSPORTS for t in transports):
            raise ValueError(f"transports must be among {_TRANSPORTS}, not {transports!r}")
        self._http = http
        self._target = target
        self._transports = transports
        self._headers = headers
        self._timeout = timeout
        self._max_size = max_size
        # permessage-deflate window bits offered to the server (0: no offer), as aiohttp takes them.
        self._compress = compress
        self._request = request
        self._on_message = on_message
        self._on_close = on_close
        self._on_ping = on_ping
        self._loop = asyncio.get_running_loop()
        self._session: ClientSession | None = None
        self._opened: asyncio.Future[Opened] = self._loop.create_future()
        self._tasks: set[asyncio.Task[None]] = set()
        self._poll_task: asyncio.Task[None] | None = None
        self._ws_task: asyncio.Task[None] | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._ws_pending: list[str | bytes] = []
        self._ws_wake = asyncio.Event()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._pumping = False
        self._repump = False
        self._closed = asyncio.Event()
        self._stamp = 0

    # -- public ----------------------------------------------------------------------

    @property
    def sid(self) -> str | None:
        """The Engine.IO session id once open; read by the client for its log lines."""
        return self._session.sid if self._session is not None else None

    @property
    def transport(self) -> str | None:
        """``"polling"`` or ``"websocket"``; read by ``Client.transport``."""
        return self._session.transport if self._session is not None else None

    async def open(self) -> Opened:
        """Handshake; ``ConnectError`` if it fails or times out. Called by the client."""
        if self._session is not None:
            raise RuntimeError("an EngineConnection opens once")
        first = self._transports[0]
        self._session = ClientSession(
            self._loop.time(),
            transport=first,
            upgrade=WEBSOCKET in self._transports,
            open_timeout=self._timeout,
        )
        if first == WEBSOCKET:
            self._ws_task = self._spawn(self._websocket())
        self._pump()
        try:
            return await self._opened
        except asyncio.CancelledError:
            self.close()
            raise

    def send(self, data: str | bytes) -> None:
        """Queue one message (dropped if the session has just closed); called by the multiplexer."""
        session = self._session
        if session is None or session.state is ClientSessionState.CLOSED:
            return
        session.send(data)
        self._pump()

    def close(self) -> None:
        """Close from this side, queued messages and a CLOSE flushed first; called by the client."""
        session = self._session
        if session is None or session.state is ClientSessionState.CLOSED:
            return
        session.close()
        self._pump()

    async def wait_closed(self) -> None:
        """Until every request and socket of this connection is done; awaited by the client."""
        await self._closed.wait()

    # -- the pump --------------------------------------------------------------------

    def _pump(self) -> None:
        """Do what the session asks; hand its events on. Re-entrant calls fold into one loop."""
        if self._pumping:
            self._repump = True
            return
        session = self._session
        assert session is not None
        self._pumping = True
        try:
            while True:
                self._repump = False
                if session.start_poll():
                    self._poll_task = self._spawn(self._poll())
                body = session.start_post()
                if body is not None:
                    self._spawn(self._post(body))
                if session.start_probe():
                    self._ws_task = self._spawn(self._websocket(probe=True))
                out = session.websocket_to_send()
                if out:
                    self._ws_pending.extend(out)
                    self._ws_wake.set()
                events = session.events_received()
                for event in events:
                    self._handle(event)
                if not events and not self._repump:
                    break
        finally:
            self._pumping = False
        self._schedule(session.next_deadline())

    def _handle(self, event: object) -> None:
        if isinstance(event, MessageReceived):
            try:
                self._on_message(event.data)
            except Exception:  # the layer above must not break the transport
                logger.exception("sid=%s error while handling a message", self.sid)
        elif isinstance(event, Pinged):
            try:
                self._on_ping()
            except Exception:
                logger.exception("sid=%s error in the ping callback", self.sid)
        elif isinstance(event, Opened):
            logger.debug(
                "sid=%s open over %s (upgrades %s)", event.sid, self.transport, event.upgrades
            )
            if not self._opened.done():
                self._opened.set_result(event)
        elif isinstance(event, Upgraded):
            logger.debug("sid=%s upgraded to %s", self.sid, event.transport)
        elif isinstance(event, UpgradeFailed):
            logger.debug("sid=%s upgrade failed: %s", self.sid, event.detail)
            self._ws_pending.clear()
            if self._ws_task is not None and self._ws_task is not asyncio.current_task():
                self._ws_task.cancel()  # from its own task, the reader loop sees it and stops
        elif isinstance(event, Closed):
            self._closing(event)

    def _closing(self, event: Closed) -> None:
        logger.debug("sid=%s closed: %s %s", self.sid, event.reason, event.detail)
        if self._poll_task is not None:
            self._poll_task.cancel()
        self._ws_wake.set()  # the writer flushes what is left, then closes the WebSocket
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._spawn(self._finish())
        opened = self._opened
        if not opened.done():
            detail = f": {event.detail}" if event.detail else ""
            opened.set_exception(ConnectError(f"{event.reason}{detail}"))
            return
        if opened.cancelled():
            return  # open() was given up: nothing was ever open
        try:
            self._on_close(event.reason, event.detail)
        except Exception:
            logger.exception("sid=%s error in the close callback", self.sid)

    async def _finish(self) -> None:
        """Give the last POST and WebSocket writes a bounded time, then stop everything."""
        current = asyncio.current_task()
        others = [t for t in self._tasks if t is not current and t is not self._poll_task]
        if others:
            _done, pending = await asyncio.wait(others, timeout=_CLOSE_FLUSH_TIMEOUT)
            for task in pending:
                task.cancel()
        rest = [t for t in self._tasks if t is not current]
        for task in rest:
            task.cancel()
        if rest:
            await asyncio.wait(rest)
        self._closed.set()

    def _schedule(self, deadline: float | None) -> None:
        if deadline == self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = deadline
        if deadline is not None:
            self._timer = self._loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        assert self._session is not None
        self._session.handle_timer(self._loop.time())
        self._pump()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = self._loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- long-polling ----------------------------------------------------------------

    def _polling_url(self) -> str:
        self._stamp += 1
        query = [*self._target.query, ("EIO", "4"), ("transport", POLLING), ("t", str(self._stamp))]
        sid = self.sid
        if sid is not None:
            query.append(("sid", sid))
        return self._target.http_url + "?" + urlencode(query)

    async def _poll(self) -> None:
        session = self._session
        assert session is not None
        try:
            async with self._http.get(
                self._polling_url(), headers=self._headers, **self._request
            ) as resp:
                body = await self._read_body(resp)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            session.transport_failed(POLLING, self._loop.time(), detail=_describe(exc))
        else:
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError:
                session.transport_failed(POLLING, self._loop.time(), detail="body is not UTF-8")
            else:
                session.receive_poll(text, self._loop.time())
        self._pump()

    async def _post(self, body: str) -> None:
        session = self._session
        assert session is not None
        headers = {**self._headers, "Content-Type": "text/plain;charset=UTF-8"}
        timeout = aiohttp.ClientTimeout(total=self._timeout)
        try:
            async with self._http.post(
                self._polling_url(),
                data=body.encode(),
                headers=headers,
                timeout=timeout,
                **self._request,
            ) as resp:
                await self._read_body(resp)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            session.transport_failed(POLLING, self._loop.time(), detail=_describe(exc))
        else:
            session.post_done(self._loop.time())
        self._pump()

    async def _read_body(self, resp: aiohttp.ClientResponse) -> bytes:
        limit = self._max_size
        if resp.content_length is not None and resp.content_length > limit:
            raise _HttpError(f"response of {resp.content_length} bytes is over the limit")
        chunks: list[bytes] = []
        size = 0
        async for chunk in resp.content.iter_any():
            size += len(chunk)
            if size > limit:
                raise _HttpError("response over the size limit")
            chunks.append(chunk)
        body = b"".join(chunks)
        if resp.status != 200:
            raise _HttpError(f"HTTP {resp.status}: {body[:200].decode('utf-8', 'replace')}")
        return body

    # -- WebSocket -------------------------------------------------------------------

    async def _websocket(self, *, probe: bool = False) -> None:
        session = self._session
        assert session is not None
        query = [*self._target.query, ("EIO", "4"), ("transport", WEBSOCKET)]
        if probe and session.sid is not None:
            query.append(("sid", session.sid))
        url = self._target.ws_url + "?" + urlencode(query)
        writer: asyncio.Task[None] | None = None
        ws: aiohttp.ClientWebSocketResponse | None = None
        reason, detail = "transport close", ""
        try:
            ws = await self._http.ws_connect(
                url,
                headers=self._headers,
                max_msg_size=self._max_size,
                timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=self._timeout),
                autoping=True,
                compress=self._compress,
                **self._request,
            )
            if session.state is ClientSessionState.CLOSED:
                return
            self._ws = ws
            writer = self._spawn(self._ws_writer(ws))
            session.websocket_opened(self._loop.time())
            self._pump()
            async for msg in ws:
                if msg.type is aiohttp.WSMsgType.TEXT or msg.type is aiohttp.WSMsgType.BINARY:
                    session.receive_websocket(msg.data, self._loop.time())
                elif msg.type is aiohttp.WSMsgType.ERROR:
                    reason, detail = "transport error", _describe(ws.exception())
                    break
                self._pump()
                if probe and session.transport == POLLING and session.state is ClientSessionState.OPEN:
                    return  # the upgrade was abandoned; polling carries on
            else:
                detail = f"closed with code {ws.close_code}"
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            reason, detail = "transport error", _describe(exc)
        finally:
            if writer is not None and session.state is not ClientSessionState.CLOSED:
                writer.cancel()
            if ws is not None and session.state is not ClientSessionState.CLOSED:
                with contextlib.suppress(Exception):
                    await ws.close()
        session.transport_failed(WEBSOCKET, self._loop.time(), reason=reason, detail=detail)
        self._pump()

    async def _ws_writer(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        session = self._session
        assert session is not None
        wake = self._ws_wake
        try:
            while True:
                await wake.wait()
                wake.clear()
                while self._ws_pending:
                    batch = self._ws_pending
                    self._ws_pending = []
                    for data in batch:
                        if isinstance(data, str):
                            await ws.send_str(data)
                        else:
                            await ws.send_bytes(data)
                if session.state is ClientSessionState.CLOSED:
                    await ws.close()
                    return
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            session.transport_failed(WEBSOCKET, self._loop.time(), detail=_describe(exc))
            self._pump()


class _HttpError(Exception):
    pass


def _describe(exc: BaseException | None) -> str:
    if exc is None:
        return "unknown error"
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
