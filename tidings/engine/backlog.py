"""What a connection holds back while its client does not keep up: the slow-consumer policy.

A socket whose transport holds more than a high-water mark stops writing to it and
queues here instead, until the transport drains. Here the policy can still act:
bytes handed to the transport cannot be taken back, queued messages can. Each
message says what may be done to it (``PreparedMessage.droppable`` and ``.key``,
set by the namespace that sent it, from its ``slow_consumer`` policy):

- droppable: may be dropped, oldest first, to make room;
- key: a newer message with the same key replaces it (conflation: only the latest
  value of an event waits).

What may not be dropped (acks, connects, events that await an ack, everything under
the ``"disconnect"`` policy) is never dropped: when only such messages are left and
they do not fit, the connection is closed, as without a backlog.

No clock, no I/O: the socket decides when to queue and when to drain.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass

from tidings.engine.io import WebSocketTransport
from tidings.logging_limits import LogLimiter
from tidings.protocol.engineio.session import ServerSession
from tidings.protocol.prepared import PreparedMessage

__all__ = ["Backlog", "SlowConsumerCounts", "slow_warnings"]

#: What slow clients cost: rate-limited, as a crowd of them must not flood the log.
slow_warnings = LogLimiter(logging.getLogger("tidings.engineio"), burst=10, interval=60.0)

Item = str | bytes | PreparedMessage


@dataclass(slots=True)
class SlowConsumerCounts:
    """What the slow-consumer policies did on one server, since it started."""

    dropped: int = 0
    """Messages dropped to make room for newer ones (``"drop"`` and ``"conflate"``)."""
    conflated: int = 0
    """Messages replaced by a newer one with the same event (``"conflate"``)."""
    disconnected: int = 0
    """Connections closed because what they held back did not fit (any policy)."""


class _Entry:
    __slots__ = ("item", "key", "size")

    def __init__(self, item: Item | None, size: int, key: str | None) -> None:
        self.item = item  # None once dropped or replaced
        self.size = size
        self.key = key


def _size(item: Item) -> int:
    if isinstance(item, PreparedMessage):
        return len(item.ws_frames)
    return len(item)


class Backlog:
    """Messages in the order sent, with the droppable ones also in a queue of their own."""

    __slots__ = ("_counts", "_dead", "_droppable", "_entries", "_keys", "dropped", "nbytes", "sid")

    def __init__(self, sid: str = "", counts: SlowConsumerCounts | None = None) -> None:
        self.sid = sid
        self._counts = counts if counts is not None else SlowConsumerCounts()
        self._entries: deque[_Entry] = deque()
        self._droppable: deque[_Entry] = deque()
        self._keys: dict[str, _Entry] = {}
        self._dead = 0
        #: Bytes of the messages still held.
        self.nbytes = 0
        #: Messages ``make_room`` dropped, in all.
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._entries) - self._dead

    def append(self, item: Item) -> int:
        """Queue ``item`` after the others; returns how many it replaced (0 or 1)."""
        size = _size(item)
        droppable = isinstance(item, PreparedMessage) and item.droppable
        key = item.key if droppable and isinstance(item, PreparedMessage) else None
        entry = _Entry(item, size, key)
        replaced = 0
        if key is not None:
            old = self._keys.get(key)
            if old is not None and old.item is not None:
                self._kill(old)
                replaced = 1
            self._keys[key] = entry
        self._entries.append(entry)
        if droppable:
            self._droppable.append(entry)
        self.nbytes += size
        self._counts.conflated += replaced
        return replaced

    def make_room(self, limit: int) -> int:
        """Drop the oldest droppable messages until at most ``limit`` bytes are held;
        returns how many were dropped. Fewer bytes may still be too many: nothing else
        may be dropped (the caller then closes the connection)."""
        dropped = 0
        droppable = self._droppable
        while self.nbytes > limit and droppable:
            entry = droppable.popleft()
            if entry.item is not None:
                self._kill(entry)
                dropped += 1
        if dropped:
            if not self.dropped:  # the first of this spell: said once, not per message
                slow_warnings.log(
                    logging.WARNING, "dropping", "sid=%s does not keep up: dropping its oldest "
                    "droppable messages (slow_consumer policy) until it does", self.sid,
                )
            self.dropped += dropped
            self._counts.dropped += dropped
        return dropped

    def popleft(self) -> Item | None:
        """The oldest message still held, or None when there is none."""
        entries = self._entries
        while entries:
            entry = entries.popleft()
            item = entry.item
            if item is None:
                self._dead -= 1
                continue
            entry.item = None
            self.nbytes -= entry.size
            if entry.key is not None and self._keys.get(entry.key) is entry:
                del self._keys[entry.key]
            droppable = self._droppable
            while droppable and droppable[0].item is None:  # sent or dropped
                droppable.popleft()
            return item
        return None

    def feed_websocket(self, ws: WebSocketTransport, high_water: int, everything: bool) -> bool:
        """Hand ``ws`` messages until it holds ``high_water`` bytes (all with ``everything``);
        True once none is left."""
        while everything or ws.buffered_amount < high_water:
            item = self.popleft()
            if item is None:
                return True
            if isinstance(item, PreparedMessage):
                ws.send_prepared(item)
            elif isinstance(item, str):
                ws.send_text("4" + item)
            else:
                ws.send_bytes(item)
        return len(self) == 0

    def feed_session(self, session: ServerSession, high_water: int, everything: bool) -> bool:
        """The same for a polling session, whose buffer the next poll takes."""
        while everything or session.buffered_bytes < high_water:
            item = self.popleft()
            if item is None:
                return True
            if isinstance(item, PreparedMessage):
                session.send_encoded(item.encoded, item.nbytes, item.compress)
            else:
                session.send(item)
        return len(self) == 0

    def _kill(self, entry: _Entry) -> None:
        entry.item = None
        self.nbytes -= entry.size
        self._dead += 1
        if entry.key is not None and self._keys.get(entry.key) is entry:
            del self._keys[entry.key]
        if self._dead > 64 and self._dead > len(self._entries) // 2:
            # Replaced and dropped entries would otherwise pile up behind a stalled client.
            self._entries = deque(e for e in self._entries if e.item is not None)
            self._droppable = deque(e for e in self._droppable if e.item is not None)
            self._dead = 0
