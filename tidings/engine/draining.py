"""A graceful stop: every session is closed, and waited for as long as its client can
still collect the close, within the shutdown's timeout."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from tidings.engine.socket import EngineSocket
from tidings.protocol.engineio.session import POLLING

__all__ = ["POLL_GRACE", "Draining"]

#: Seconds a polling client has, at shutdown, to come back for its CLOSE packet.
POLL_GRACE = 1.0


class Draining:
    """Closes an engine's sessions and waits for them to be gone; the engine calls
    ``check`` each time one is."""

    __slots__ = ("_event", "_sockets")

    def __init__(self, sockets: Mapping[str, EngineSocket]) -> None:
        self._sockets = sockets
        self._event: asyncio.Event | None = None

    def check(self) -> None:
        if self._event is not None and not self._sockets:
            self._event.set()

    async def close_all(self, timeout: float) -> None:
        """Close every session with "server shutting down", then wait for them.

        A polling client collects its CLOSE with its next poll, which a live client
        sends at once: one that has not come within ``POLL_GRACE`` seconds is gone, and
        is not waited for up to ``timeout``. So is one in the middle of an upgrade, whose
        close waits for the UPGRADE packet a live client sends at once too.
        """
        sockets = self._sockets
        for socket in list(sockets.values()):
            socket.close("server shutting down")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        if await self._wait(min(timeout, POLL_GRACE)):
            for socket in list(sockets.values()):
                session = socket.session
                if session.transport == POLLING and not session.poll_held:
                    socket.abort("server shutting down", "client did not poll again")
            await self._wait(deadline - loop.time())
        for socket in list(sockets.values()):
            socket.abort("server shutting down", "shutdown timeout")

    async def _wait(self, timeout: float) -> bool:
        """Wait until no session is left; True if some still are after ``timeout``."""
        if not self._sockets:
            return False
        event = self._event = asyncio.Event()
        try:
            await asyncio.wait_for(event.wait(), max(timeout, 0.0))
        except TimeoutError:
            pass
        finally:
            self._event = None
        return bool(self._sockets)
