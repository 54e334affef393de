"""Which application callback answers what, and the queue that runs them.

By default callbacks run one at a time in arrival order (a handler sees events
in the order the server sent them); with ``concurrent`` each runs as its own
task. A handler's return value becomes the acknowledgement, through ``send_ack``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from tidings.handlers import Handler, call_maybe_async

__all__ = ["CATCH_ALL", "MANAGER_EVENTS", "RECONNECT_EVENTS", "Dispatcher"]

logger = logging.getLogger("tidings.client")

#: Events about the reconnection, registered with ``on`` (whatever the namespace) or ``on_manager``.
RECONNECT_EVENTS = frozenset(
    {"reconnect_attempt", "reconnect", "reconnect_error", "reconnect_failed"}
)
#: Every event about the connection as a whole (the JavaScript client's Manager events),
#: registered with ``on_manager``: "open", "close" and "ping" are common names of
#: application events too, which ``on`` keeps for them.
MANAGER_EVENTS = RECONNECT_EVENTS | {"open", "close", "ping"}
CATCH_ALL = "*"

# handler, arguments, namespace and ack id (both None when no ack is due)
_Job = tuple[Handler, tuple[Any, ...], str | None, int | None]


class Dispatcher:
    """The handlers of one client, and the queue (or tasks) that runs them."""

    __slots__ = (
        "_any",
        "_any_outgoing",
        "_concurrent",
        "_handlers",
        "_manager",
        "_queue",
        "_send_ack",
        "_task",
        "_tasks",
    )

    def __init__(self, send_ack: Callable[[str, int, Any], None]) -> None:
        self._handlers: dict[tuple[str, str], Handler] = {}
        self._manager: dict[str, Handler] = {}
        self._any: dict[str, list[Handler]] = {}
        self._any_outgoing: dict[str, list[Handler]] = {}
        self._send_ack = send_ack
        self._concurrent = False
        self._queue: asyncio.Queue[_Job | None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # -- registry --------------------------------------------------------------------

    def register(
        self, namespace: str, event: str, fn: Callable[..., Any], *, manager: bool = False
    ) -> None:
        """Make ``fn`` the handler of ``event``, or of the Manager event; by the client."""
        if manager or event in RECONNECT_EVENTS:
            self._manager[event] = Handler(fn)
        else:
            self._handlers[(namespace, event)] = Handler(fn)

    def add_any(self, namespace: str, fn: Callable[..., Any]) -> None:
        """Add a listener of every event of ``namespace``; called by ``Client.on_any``."""
        self._any.setdefault(namespace, []).append(Handler(fn))

    def add_any_outgoing(self, namespace: str, fn: Callable[..., Any]) -> None:
        """Add a listener of every event sent on ``namespace``; called by the client."""
        self._any_outgoing.setdefault(namespace, []).append(Handler(fn))

    def namespaces(self) -> set[str]:
        """Namespaces something was registered for; called by ``Client.connect``."""
        return {name for name, _ in self._handlers} | set(self._any)

    # -- firing ----------------------------------------------------------------------

    def fire(self, namespace: str, event: str, *args: Any) -> None:
        """A namespace's ``connect``/``disconnect``/``connect_error``; called by the multiplexer."""
        handler = self._handlers.get((namespace, event))
        if handler is not None:
            self._enqueue((handler, args, None, None))

    def fire_manager(self, event: str, *args: Any) -> None:
        """One of ``MANAGER_EVENTS``; called by the client and the reconnector."""
        handler = self._manager.get(event)
        if handler is not None:
            self._enqueue((handler, args, None, None))

    def event(self, namespace: str, event: str, args: tuple[Any, ...], ack_id: int | None) -> None:
        """A server event: listeners, then handler or catch-all; called by the multiplexer."""
        for listener in self._any.get(namespace, ()):
            self._enqueue((listener, (event, list(args)), None, None))
        handler = self._handlers.get((namespace, event))
        if handler is not None:
            self._enqueue((handler, args, namespace, ack_id))
            return
        catch_all = self._handlers.get((namespace, CATCH_ALL))
        if catch_all is not None:
            self._enqueue((catch_all, (event, *args), namespace, ack_id))
        # else, as in JavaScript, an ack nobody handles is never sent

    def outgoing(self, namespace: str, event: str, args: tuple[Any, ...]) -> None:
        """An event was written: its outgoing listeners; called by the multiplexer."""
        for listener in self._any_outgoing.get(namespace, ()):
            self._enqueue((listener, (event, list(args)), None, None))

    # -- running ---------------------------------------------------------------------

    def start(self, *, concurrent: bool) -> None:
        """Start running callbacks (again); called by ``Client.connect``."""
        self._concurrent = concurrent
        if self._task is None or self._task.done():
            self._queue = asyncio.Queue()
            self._task = asyncio.get_running_loop().create_task(self._drain(self._queue))

    async def stop(self, timeout: float) -> None:
        """Let queued callbacks (``disconnect`` among them) run, then stop; called by the client."""
        task, queue = self._task, self._queue
        self._task = None
        self._queue = None
        if task is None or queue is None:
            return
        queue.put_nowait(None)
        if task is asyncio.current_task():
            return  # stopped from a handler: the queue ends after it
        try:
            async with asyncio.timeout(timeout):
                await asyncio.shield(task)
        except TimeoutError:
            logger.warning("handlers still running at disconnect were cancelled")
            task.cancel()

    def in_handler(self) -> bool:
        """Whether the caller is a callback run here; called by ``Client.disconnect``."""
        current = asyncio.current_task()
        return current is not None and (current is self._task or current in self._tasks)

    def _enqueue(self, job: _Job) -> None:
        if self._concurrent:
            task = asyncio.get_running_loop().create_task(self._run(*job))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        elif self._queue is not None:
            self._queue.put_nowait(job)

    async def _drain(self, queue: asyncio.Queue[_Job | None]) -> None:
        while (job := await queue.get()) is not None:
            await self._run(*job)

    async def _run(
        self, handler: Handler, args: tuple[Any, ...], namespace: str | None, ack_id: int | None
    ) -> None:
        try:
            result = await call_maybe_async(handler, *args)
        except Exception:
            logger.exception("error in handler %r", handler)
            return
        if ack_id is not None and namespace is not None:
            self._send_ack(namespace, ack_id, result)
