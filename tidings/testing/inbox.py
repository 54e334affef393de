"""What one namespace of a test client has received, and the waits on it.

Every event is kept in arrival order (``log``); ``receive`` and ``event`` take
from the ones not taken yet, so a test reads each event once, in order, or
picks the one it waits for. A wait fails with what did arrive in its message,
and at once when the namespace disconnects instead of when the timeout ends.
"""

from __future__ import annotations

import asyncio
import enum
from collections import deque
from collections.abc import Callable
from typing import Any, NamedTuple

from tidings.errors import DisconnectedError

__all__ = ["Inbox", "Phase", "Received"]


class Received(NamedTuple):
    """One event from the server: its name and its arguments (``bytes`` for binary)."""

    event: str
    args: tuple[Any, ...]


class Phase(enum.Enum):
    """Where a namespace of a test client is; changed only by ``Inbox.set_phase``."""

    CONNECTING = "connecting"
    CONNECTED = "connected"
    REFUSED = "refused"
    DISCONNECTED = "disconnected"


_NEXT: dict[Phase, frozenset[Phase]] = {
    Phase.CONNECTING: frozenset({Phase.CONNECTED, Phase.REFUSED, Phase.DISCONNECTED}),
    Phase.CONNECTED: frozenset({Phase.DISCONNECTED}),
    Phase.REFUSED: frozenset(),
    Phase.DISCONNECTED: frozenset(),
}


class Inbox:
    """One namespace's state on the client side: set by ``MemoryConnection``, read by
    ``TestClient``."""

    __slots__ = (
        "_pending",
        "_waiters",
        "auth",
        "handlers",
        "log",
        "name",
        "offset",
        "phase",
        "pid",
        "reason",
        "recovered",
        "refusal",
        "sid",
    )

    def __init__(self, name: str, auth: dict[str, Any] | None) -> None:
        self.name = name
        self.auth = auth
        self.phase = Phase.CONNECTING
        self.sid: str | None = None
        self.pid: str | None = None
        """The server's private session id (connection state recovery), if it gave one."""
        self.offset: str | None = None
        """The last event offset seen while ``pid`` is set, offered back on reconnection."""
        self.recovered = False
        self.reason: str | None = None
        """Why the namespace disconnected, once it has."""
        self.refusal: tuple[str, Any] | None = None
        """The CONNECT_ERROR's message and data, if refused."""
        self.log: list[Received] = []
        self.handlers: dict[str, Callable[..., Any]] = {}
        self._pending: deque[Received] = deque()
        self._waiters: list[asyncio.Future[None]] = []

    # -- written by the connection ---------------------------------------------------------

    def set_phase(self, phase: Phase, reason: str | None = None) -> None:
        if phase is self.phase:
            return
        if phase not in _NEXT[self.phase]:
            raise RuntimeError(f"namespace {self.name}: {self.phase.name} -> {phase.name}")
        self.phase = phase
        if phase is Phase.DISCONNECTED:
            self.reason = reason
        self._wake()

    def add(self, event: str, args: tuple[Any, ...]) -> None:
        item = Received(event, args)
        self.log.append(item)
        self._pending.append(item)
        if self.pid is not None and args and type(args[-1]) is str:
            self.offset = args[-1]
        self._wake()

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    # -- read by the client ----------------------------------------------------------------

    async def take(self, event: str | None, timeout: float) -> Received:
        """The oldest event not taken yet (named ``event``, if given), waiting for it."""
        what = "an event" if event is None else f"event {event!r}"
        try:
            async with asyncio.timeout(timeout):
                while True:
                    for index, item in enumerate(self._pending):
                        if event is None or item.event == event:
                            del self._pending[index]
                            return item
                    if self.phase is Phase.DISCONNECTED or self.phase is Phase.REFUSED:
                        raise DisconnectedError(
                            f"namespace {self.name} disconnected ({self.reason}) while waiting"
                            f" for {what}; {self._seen()}"
                        )
                    await self._wait()
        except TimeoutError:
            raise TimeoutError(f"no {what} on {self.name} within {timeout}s; {self._seen()}") from None

    async def until(self, done: Callable[[], bool], what: str, timeout: float) -> None:
        """Wait until ``done()`` holds (checked at each change of this namespace)."""
        try:
            async with asyncio.timeout(timeout):
                while not done():
                    await self._wait()
        except TimeoutError:
            raise TimeoutError(f"{self.name}: not {what} within {timeout}s; {self._seen()}") from None

    async def _wait(self) -> None:
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        await waiter

    def _seen(self) -> str:
        if not self.log:
            return "nothing was received"
        shown = ", ".join(f"{r.event}{list(r.args)!r}" for r in self.log[-10:])
        more = f" (last 10 of {len(self.log)})" if len(self.log) > 10 else ""
        return f"received{more}: {shown}"
