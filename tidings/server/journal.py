"""What the server writes to a history store, and reads back for a late joiner or a returning client.

With connection state recovery on, every event that is not volatile and awaits no
ack is appended *before* it is sent, and its offset travels as the event's last
argument (as Node's recovery does), so a client's last offset says exactly what it
has seen. The log and the sessions are in the store, so this survives a restart.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tidings.history.base import Entry, HistoryStore, SessionRecord
from tidings.protocol.socketio import DecodeError, Decoder, Packet, PacketType, encode

if TYPE_CHECKING:
    from tidings.serializers import Serializer

logger = logging.getLogger("tidings.history")

#: Disconnect causes a client did not choose: its session is kept for recovery (as Node does).
RECOVERABLE_REASONS = frozenset(
    {"transport error", "transport close", "forced close", "ping timeout", "server shutting down",
     "forced server close", "parse error"}
)


#: Seconds between applications of the store's retention policy.
PRUNE_INTERVAL = 60.0


@dataclass(frozen=True, slots=True)
class RecoveryOptions:
    max_disconnection_duration: float = 120.0
    """Seconds a client may be away and still recover its session and missed events."""
    skip_middlewares: bool = True
    """A recovered client was already accepted: do not run middleware again."""
    max_missed: int = 10_000
    """A client that missed more than this starts a fresh session instead."""

    def __post_init__(self) -> None:
        if self.max_disconnection_duration <= 0:
            raise ValueError("max_disconnection_duration must be positive")
        if self.max_missed < 1:
            raise ValueError("max_missed must be at least 1")


@dataclass(frozen=True, slots=True)
class HistoryItem:
    """One stored event, decoded: what a page shows a late joiner."""

    offset: str
    event: str
    args: list[Any]
    rooms: tuple[str, ...]
    created_at: float


class Journal:
    """The server's use of a ``HistoryStore``: one per server, opened on first use."""

    def __init__(self, store: HistoryStore, serializer: Serializer, recovery: RecoveryOptions | None) -> None:
        self.store = store
        self.serializer = serializer
        self.recovery = recovery
        self._opened: asyncio.Future[None] | None = None
        self._sent: dict[str, int] = {}
        self._prune_timer: asyncio.TimerHandle | None = None
        self._pruning: asyncio.Task[None] | None = None

    async def open(self) -> None:
        if self._opened is None:
            self._opened = asyncio.get_running_loop().create_future()
            try:
                await self.store.open()
                if self.recovery is not None:
                    # Sessions that were live when the previous process ended went away now.
                    await self.store.sessions_lost(time.time())
            except BaseException as exc:
                self._opened.set_exception(exc)
                self._opened = None
                raise
            self._opened.set_result(None)
            self._schedule_prune()
        await self._opened

    def _schedule_prune(self) -> None:
        loop = asyncio.get_running_loop()
        self._prune_timer = loop.call_later(PRUNE_INTERVAL, self._prune)

    def _prune(self) -> None:
        """Retention by age is applied on this one deadline, not by a loop per store."""
        self._pruning = asyncio.get_running_loop().create_task(self._run_prune())

    async def _run_prune(self) -> None:
        try:
            removed = await self.store.prune(time.time())
            if removed:
                logger.info("history: pruned %d entries", removed)
        except Exception:
            logger.exception("history: pruning failed")
        if self._opened is not None:
            self._schedule_prune()

    async def close(self) -> None:
        if self._prune_timer is not None:
            self._prune_timer.cancel()
            self._prune_timer = None
        if self._pruning is not None:
            await asyncio.wait([self._pruning])
        if self._opened is not None:
            self._opened = None
            await self.store.close()

    # -- writing --------------------------------------------------------------------------

    async def record(self, packet: Packet, rooms: Iterable[str], except_rooms: Iterable[str]) -> Packet:
        """Append ``packet`` and return it with its offset as the last argument."""
        await self.open()
        encoded = encode(packet, self.serializer)
        offset = await self.store.append(
            packet.namespace, packet.data[0], encoded.text.encode(),
            rooms=rooms, except_rooms=except_rooms, attachments=encoded.attachments, now=time.time(),
        )
        return Packet(packet.type, packet.namespace, [*packet.data, str(offset)], packet.id)

    def mark_sent(self, packet: Packet) -> None:
        """Everything up to this packet's offset has gone out to the sockets present."""
        offset = int(packet.data[-1])
        if offset > self._sent.get(packet.namespace, 0):
            self._sent[packet.namespace] = offset

    def sent(self, namespace: str) -> int:
        """The offset up to which every event of ``namespace`` has gone to the sockets present."""
        return self._sent.get(namespace, 0)

    async def prime(self, namespace: str) -> None:
        """Count what an earlier process stored as sent (a crash may have cut its sending short)."""
        if namespace not in self._sent:
            await self.open()
            last = await self.store.last_offset(namespace)
            self._sent[namespace] = max(self._sent.get(namespace, 0), last)

    # -- sessions ------------------------------------------------------------------------

    def session_record(
        self,
        pid: str,
        sid: str,
        namespace: str,
        rooms: Iterable[str],
        data: dict[str, Any] | None,
        now: float,
    ) -> SessionRecord:
        """A socket's session as stored for recovery (``rooms`` includes its own id)."""
        raw = b""
        if data:
            try:
                raw = self.serializer.dumps(data).encode()
            except (TypeError, ValueError):
                logger.warning("sid=%s socket.data is not serializable; not kept for recovery", sid)
        return SessionRecord(pid, sid, namespace, tuple(sorted(rooms)), raw, now)

    async def save(self, record: SessionRecord) -> None:
        await self.open()
        await self.store.save_session(record)

    async def keep_or_forget(self, record: SessionRecord, reason: str) -> None:
        """A socket left: keep its session if it may come back, else drop it."""
        try:
            await self.open()
            if reason in RECOVERABLE_REASONS:
                await self.store.save_session(record)
            else:
                await self.store.take_session(record.pid, float("inf"), time.time())
        except Exception:
            logger.exception("sid=%s could not update its recovery session", record.sid)

    def restore_data(self, raw: bytes) -> dict[str, Any] | None:
        if not raw:
            return None
        try:
            value = self.serializer.loads(raw.decode())
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    # -- reading ---------------------------------------------------------------------------

    def to_packet(self, entry: Entry) -> Packet | None:
        """The stored packet with its offset appended, as it first went out."""
        decoder = Decoder(self.serializer)
        try:
            packet = decoder.receive(entry.payload.decode())
            for attachment in entry.attachments:
                packet = decoder.receive(attachment)
        except (DecodeError, UnicodeDecodeError):
            logger.warning("history entry %s in %s is unreadable; skipped", entry.offset, entry.namespace)
            return None
        if packet is None or packet.type is not PacketType.EVENT:
            return None
        return Packet(PacketType.EVENT, packet.namespace, [*packet.data, str(entry.offset)])

    def to_item(self, entry: Entry) -> HistoryItem | None:
        packet = self.to_packet(entry)
        if packet is None:
            return None
        data = packet.data
        return HistoryItem(data[-1], data[0], data[1:-1], entry.rooms, entry.created_at)


class NamespaceHistory:
    """``nsp.history``: what was said, for showing a late joiner."""

    __slots__ = ("_journal", "_namespace")

    def __init__(self, journal: Callable[[], Journal | None], namespace: str) -> None:
        self._journal = journal
        self._namespace = namespace

    def _open_journal(self) -> Journal:
        journal = self._journal()
        if journal is None:
            raise RuntimeError("this server has no history store: pass history= to Server")
        return journal

    async def last(self, n: int, room: str | None = None) -> list[HistoryItem]:
        """The last ``n`` events sent to ``room`` (or to anyone), oldest first."""
        journal = self._open_journal()
        await journal.open()
        entries = await journal.store.last(self._namespace, room, n)
        return [item for item in map(journal.to_item, entries) if item is not None]

    async def since(self, offset: str | int, room: str | None = None, limit: int = 1000) -> list[HistoryItem]:
        """Events after ``offset`` (as clients receive it), oldest first."""
        journal = self._open_journal()
        await journal.open()
        entries = await journal.store.since(
            self._namespace, int(offset), rooms=None if room is None else (room,), limit=limit
        )
        return [item for item in map(journal.to_item, entries) if item is not None]
