"""One namespace's logged events reach this node's sockets in offset order, each once.

With connection state recovery and a store shared by several nodes, offsets are one
order per namespace, but a node sees them in the order they reach it: its own emit 11
can be ready before 10 from another node has come through pub/sub. A client shown 11
and then cut off comes back with offset 11 and is never replayed 10. So every logged
event, this node's and the others', passes the namespace's ``Sequencer`` on its way to
the local sockets, and leaves it in offset order.

An offset that arrives ahead of the next one expected waits, and the gap is read from
the store: the store gives offsets in one serialized order, so once n is committed
everything below n is too, and one read fills the gap (entries no local socket should
see are skipped by the adapter's room selection, as any broadcast is). What pub/sub
then brings late is below the next offset and dropped: never delivered twice. This
node's own emits are never delivered from the store: each waits for its turn and is
sent by its emitter, which also publishes it. A gap the store cannot fill (it is down)
is given up after ``max_wait`` seconds, logged, never waited on forever.

With one server there are no gaps: an emit is delivered at once, as without this, and
the store is never read here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from tidings.adapters.base import BroadcastFlags, BroadcastOptions
from tidings.handlers import Suspended, resume, run_inline
from tidings.history.base import Entry, HistoryStore
from tidings.ids import Room
from tidings.protocol.socketio import Packet

if TYPE_CHECKING:
    from tidings.adapters.base import Adapter

logger = logging.getLogger("tidings.server")

__all__ = ["Sequencer"]

_LOCAL = BroadcastFlags(local=True)
_LOCAL_PLAIN = BroadcastFlags(local=True, compress=False)  # compress(False) kept
_PAGE = 1000

_Remote = tuple[Packet, BroadcastOptions]


class Sequencer:
    """Made by the journal for each namespace; ``next`` is the offset it delivers next."""

    __slots__ = (
        "_adapter", "_filler", "_holding", "_pending", "_primed", "_settled", "_store",
        "_suspended", "_tickets", "_to_packet", "_unsettled", "max_wait", "namespace", "next",
    )

    def __init__(
        self,
        namespace: str,
        store: HistoryStore,
        adapter: Adapter,
        to_packet: Callable[[Entry], Packet | None],
        *,
        max_wait: float = 2.0,
    ) -> None:
        self.namespace = namespace
        self._store = store
        self._adapter = adapter
        self._to_packet = to_packet
        self.max_wait = max_wait
        """Seconds a gap the store cannot fill is waited for before it is given up."""
        self.next: int | None = None
        """The next offset to deliver; None until primed (then everything passes at once)."""
        self._primed: asyncio.Future[None] | None = None
        self._pending: dict[int, _Remote | asyncio.Future[None]] = {}
        self._holding: int | None = None  # an own emit whose turn came, delivering now
        self._tickets = 0  # own appends started
        self._unsettled: set[int] = set()  # own appends not returned yet
        self._settled: asyncio.Event | None = None
        self._filler: asyncio.Task[None] | None = None
        self._suspended: set[asyncio.Task[None]] = set()

    @property
    def delivered(self) -> int:
        """Every offset up to this one has gone to the sockets present (0: none known)."""
        return 0 if self.next is None else self.next - 1

    async def prime(self) -> None:
        """Start ordering from the store's last offset (before the first socket registers)."""
        if self._primed is None:
            self._primed = asyncio.get_running_loop().create_future()
            try:
                last = await self._store.last_offset(self.namespace)
                # Own appends under way may hold offsets up to ``last``: let them pass first.
                await self._settle_through(self._tickets, self.max_wait)
            except BaseException as exc:
                self._primed.set_exception(exc)
                self._primed.exception()  # retrieved: the next caller tries again
                self._primed = None
                raise
            self.next = last + 1
            self._primed.set_result(None)
        await self._primed

    def close(self) -> None:
        """The store is closing: stop filling (what waits is sent at the next offer)."""
        if self._filler is not None:
            self._filler.cancel()

    # -- this node's emits ----------------------------------------------------------------

    def ticket(self) -> int:
        """An own append starts (the gap filler waits for those that started before it read)."""
        self._tickets += 1
        self._unsettled.add(self._tickets)
        return self._tickets

    def settle(self, ticket: int) -> None:
        """The append of ``ticket`` returned (with an offset or an error)."""
        self._unsettled.discard(ticket)
        if self._settled is not None:
            self._settled.set()

    def turn(self, offset: int) -> Awaitable[None] | None:
        """An own emit got ``offset``: None when it may be delivered now, else an awaitable
        that returns when its turn comes. Deliver it, synchronously, right after either."""
        nxt = self.next
        if nxt is None or offset < nxt:
            return None  # not primed yet (no socket registered), or ordered before priming
        if offset == nxt and self._holding is None:
            self.next = nxt + 1
            if self._pending:
                asyncio.get_running_loop().call_soon(self._drain)
            return None
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending[offset] = future
        self._kick()
        return self._wait(offset, future)

    async def _wait(self, offset: int, future: asyncio.Future[None]) -> None:
        try:
            await future
        except asyncio.CancelledError:
            if self._pending.get(offset) is future:
                del self._pending[offset]
            elif self._holding == offset:
                # Its turn came but it will not be sent: the gap filler reads it instead.
                self._holding = None
                self._kick()
            raise
        if self._holding == offset:
            self._holding = None
            self.next = offset + 1
            # After the caller has delivered (it does so before it next suspends).
            asyncio.get_running_loop().call_soon(self._drain)

    # -- other nodes' emits -----------------------------------------------------------------

    def offer(self, offset: int, packet: Packet, opts: BroadcastOptions) -> None:
        """A logged event from another node: delivered now if it is next, else in its turn."""
        nxt = self.next
        if nxt is None:
            self._deliver(packet, opts)
            return
        if offset < nxt:
            logger.debug("namespace %s: offset %d delivered already, dropped", self.namespace, offset)
            return
        if offset == nxt and self._holding is None:
            self.next = nxt + 1
            self._deliver(packet, opts)
            if self._pending:
                self._drain()
            return
        self._pending[offset] = (packet, opts)
        self._kick()

    # -- in order -------------------------------------------------------------------------

    def _deliver(self, packet: Packet, opts: BroadcastOptions) -> None:
        local = BroadcastOptions(
            opts.rooms, opts.except_, _LOCAL if opts.flags.compress else _LOCAL_PLAIN)
        result = run_inline(self._adapter.broadcast(packet, local))
        if isinstance(result, Suspended):  # an adapter that awaits before it writes
            task = asyncio.get_running_loop().create_task(resume(result))
            self._suspended.add(task)
            task.add_done_callback(self._suspended.discard)

    def _drain(self) -> None:
        pending = self._pending
        while self._holding is None and pending and self.next is not None:
            nxt = self.next
            item = pending.pop(nxt, None)
            if item is None:
                stale = [o for o in pending if o < nxt]
                if not stale:
                    break
                for offset in stale:  # passed meanwhile (a skipped gap, a late duplicate)
                    late = pending.pop(offset)
                    if isinstance(late, asyncio.Future) and not late.done():
                        late.set_result(None)  # an own emit: sent now, out of turn
                continue
            if isinstance(item, asyncio.Future):
                if item.done():
                    continue
                self._holding = nxt
                item.set_result(None)
                break
            self.next = nxt + 1
            self._deliver(*item)
        self._kick()

    def _kick(self) -> None:
        """Start the gap filler if something waits above a gap."""
        if (
            self._filler is None
            and self._pending
            and self._holding is None
            and self.next is not None
            and min(self._pending) > self.next
        ):
            filler = asyncio.get_running_loop().create_task(self._fill())
            if not filler.done():  # an eager task may have run to its end inside create_task
                self._filler = filler

    async def _settle_through(self, ticket: int, timeout: float) -> None:
        """Wait until the own appends up to ``ticket`` have returned (and taken their turn)."""

        async def settled() -> None:
            while any(t <= ticket for t in self._unsettled):
                if self._settled is None or self._settled.is_set():
                    self._settled = asyncio.Event()
                await self._settled.wait()

        if not any(t <= ticket for t in self._unsettled):
            return
        try:
            await asyncio.wait_for(settled(), timeout)
        except TimeoutError:
            logger.warning("namespace %s: an own append is slow to return", self.namespace)

    async def _fill(self) -> None:
        # Set here too: an eager task runs up to its first await before ``_kick`` stores it,
        # and what it delivers meanwhile may kick again.
        self._filler = asyncio.current_task()
        loop = asyncio.get_running_loop()
        give_up = loop.time() + self.max_wait
        delay = 0.01
        try:
            while self._pending and self._holding is None and self.next is not None:
                lowest = min(self._pending)
                start = self.next
                if lowest <= start:
                    self._drain()
                    continue
                try:
                    entries = await self._store.since(
                        self.namespace, start - 1, limit=min(lowest - start, _PAGE)
                    )
                    await self._settle_through(self._tickets, max(give_up - loop.time(), 0.01))
                except Exception as exc:
                    logger.warning("namespace %s: reading the gap after %d failed: %r",
                                   self.namespace, start - 1, exc)
                    entries = None
                if entries is not None and self._fill_from(entries, lowest):
                    give_up = loop.time() + self.max_wait
                    delay = 0.01
                    continue
                if self.next != start or self._holding is not None:
                    continue  # delivered meanwhile by arrivals or own emits
                if loop.time() >= give_up:
                    logger.warning("namespace %s: offsets %d to %d could not be read; skipped",
                                   self.namespace, start, lowest - 1)
                    self.next = lowest
                    self._drain()
                    continue
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.25)
        finally:
            self._filler = None
        self._kick()

    def _fill_from(self, entries: list[Entry], lowest: int) -> bool:
        """Deliver what the store gave for the gap below ``lowest``; whether it moved on."""
        moved = False
        for entry in entries:
            if self._holding is not None or self.next is None:
                break
            offset = entry.offset
            if offset < self.next:
                continue  # arrived (or was sent by its own emitter) during the read
            if offset >= lowest or offset in self._pending:
                break
            if offset > self.next:
                logger.info("namespace %s: offsets %d to %d are pruned; skipped",
                            self.namespace, self.next, offset - 1)
            self.next = offset + 1
            packet = self._to_packet(entry)
            if packet is not None:
                opts = BroadcastOptions(
                    frozenset(Room(r) for r in entry.rooms),
                    frozenset(Room(r) for r in entry.except_rooms),
                )
                self._deliver(packet, opts)
            moved = True
            self._drain()  # what arrived for the offsets right after (the filler is running)
        if not moved and self._holding is None and self.next is not None and (
            not entries or entries[0].offset >= lowest
        ):
            # Nothing below ``lowest`` is kept: pruned (what is committed is never missing).
            logger.info("namespace %s: offsets %d to %d are pruned; skipped",
                        self.namespace, self.next, lowest - 1)
            self.next = lowest
            self._drain()
            moved = True
        return moved
