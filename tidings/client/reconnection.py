"""Reconnecting after a lost connection, as socket.io-client's Manager does.

Exponential backoff with jitter between attempts (``backoff_delay``), the
Manager's events (``reconnect_attempt``, ``reconnect_error``, ``reconnect``,
``reconnect_failed``), and a bounded number of attempts if the options say so.
The namespaces' recovery position travels in their next CONNECT, which the
client sends once a new connection is open.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from tidings.client.dispatch import Dispatcher
from tidings.client.errors import ConnectError
from tidings.client.options import ClientOptions, backoff_delay

__all__ = ["Reconnector"]

logger = logging.getLogger("tidings.client")


class Reconnector:
    """One loop of attempts at a time, started when the connection is lost.

    ``open_connection`` makes one attempt (raising if it fails);
    ``attempt_failed(error)``, ``reconnected()`` and ``gave_up()`` tell the
    client how it went.
    """

    __slots__ = (
        "_attempt_failed",
        "_dispatcher",
        "_gave_up",
        "_open_connection",
        "_options",
        "_random",
        "_reconnected",
        "_spawn",
        "_task",
    )

    def __init__(
        self,
        options: ClientOptions,
        dispatcher: Dispatcher,
        *,
        spawn: Callable[[Coroutine[Any, Any, None]], asyncio.Task[None]],
        open_connection: Callable[[], Awaitable[None]],
        attempt_failed: Callable[[ConnectError], None],
        reconnected: Callable[[], None],
        gave_up: Callable[[], Awaitable[None]],
    ) -> None:
        self._options = options
        self._dispatcher = dispatcher
        self._spawn = spawn
        self._open_connection = open_connection
        self._attempt_failed = attempt_failed
        self._reconnected = reconnected
        self._gave_up = gave_up
        self._task: asyncio.Task[None] | None = None
        self._random = random.Random()

    def start(self) -> None:
        """Called by the client on losing its connection; a running loop sees that itself."""
        # Done, not None: under an eager task factory a loop that gave up at once ended
        # inside ``_spawn``, before its task was stored here.
        if self._task is None or self._task.done():
            self._task = self._spawn(self._run())

    def cancel(self) -> None:
        """Called by the client's shutdown: no more attempts (unless that is the loop giving up)."""
        task, self._task = self._task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    async def _run(self) -> None:
        options = self._options
        attempt = 0
        while True:
            if (
                options.reconnection_attempts is not None
                and attempt >= options.reconnection_attempts
            ):
                logger.info("giving up reconnecting after %d attempts", attempt)
                self._dispatcher.fire_manager("reconnect_failed")
                self._task = None
                await self._gave_up()
                return
            delay = backoff_delay(attempt, options, self._random.random())
            attempt += 1
            await asyncio.sleep(delay)
            self._dispatcher.fire_manager("reconnect_attempt", attempt)
            try:
                await self._open_connection()
            except Exception as exc:
                error = (
                    exc if isinstance(exc, ConnectError) else ConnectError(str(exc) or "timeout")
                )
                logger.info("reconnection attempt %d failed: %s", attempt, error)
                self._dispatcher.fire_manager("reconnect_error", error)
                self._attempt_failed(error)
                continue
            self._task = None
            self._dispatcher.fire_manager("reconnect", attempt)
            self._reconnected()
            return
