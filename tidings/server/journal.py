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

from tidings.history.base import DEFAULT_NODE, Entry, HistoryStore, SessionRecord
from tidings.history.recovery import parse_offset
from tidings.protocol.socketio import DecodeError, Decoder, Packet, PacketType, encode
from tidings.server.sequencer import Sequencer

if TYPE_CHECKING:
    from tidings.adapters.base import Adapter, BroadcastOptions
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
    heartbeat_interval: float = 5.0
    """Seconds between this node's heartbeats in the store. A node silent for three
    intervals is taken as killed: its live sessions count as disconnected at its last
    heartbeat, and other nodes recover them (and expire them after the usual duration)."""
    gap_wait: float = 2.0
    """Seconds an offset the store cannot give is waited for before it is skipped (logged)."""

    def __post_init__(self) -> None:
        if self.max_disconnection_duration <= 0:
            raise ValueError("max_disconnection_duration must be positive")
        if self.max_missed < 1:
            raise ValueError("max_missed must be at least 1")
        if not self.heartbeat_interval > 0:
            raise ValueError("heartbeat_interval must be positive")
        if not self.gap_wait > 0:
            raise ValueError("gap_wait must be positive")

    @property
    def node_timeout(self) -> float:
        """Seconds without a heartbeat after which a node counts as gone."""
        return 3 * self.heartbeat_interval


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

    def __init__(
        self,
        store: HistoryStore,
        serializer: Serializer,
        recovery: RecoveryOptions | None,
        node: str = DEFAULT_NODE,
    ) -> None:
        self.store = store
        self.serializer = serializer
        self.recovery = recovery
        self.node = node
        """This server's name in the store: its sessions are its own (``Server(node_id=)``)."""
        self._opened: asyncio.Future[None] | None = None
        self._sequencers: dict[str, Sequencer] = {}
        self._prune_timer: asyncio.TimerHandle | None = None
        self._pruning: asyncio.Task[None] | None = None
        self._beat_timer: asyncio.TimerHandle | None = None
        self._beating: asyncio.Task[None] | None = None

    async def open(self) -> None:
        if self._opened is None:
            self._opened = asyncio.get_running_loop().create_future()
            try:
                await self.store.open()
                if self.recovery is not None:
                    now = time.time()
                    await self.store.heartbeat(self.node, now, self.recovery.node_timeout)
                    # Sessions this node held when its previous process ended went away now.
                    await self.store.sessions_lost(now, self.node)
            except BaseException as exc:
                self._opened.set_exception(exc)
                self._opened = None
                raise
            self._opened.set_result(None)
            self._schedule_prune()
            self._schedule_beat()
        await self._opened

    def _cancel_timers(self) -> None:
        for timer in (self._prune_timer, self._beat_timer):
            if timer is not None:
                timer.cancel()
        self._prune_timer = self._beat_timer = None

    @property
    def opened(self) -> bool:
        """Whether ``open`` has begun (the node is known to the store from then on)."""
        return self._opened is not None

    def _schedule_beat(self) -> None:
        if self.recovery is not None:
            loop = asyncio.get_running_loop()
            self._beat_timer = loop.call_later(self.recovery.heartbeat_interval, self._beat)

    def _beat(self) -> None:
        self._beating = asyncio.get_running_loop().create_task(self._run_beat())

    async def _run_beat(self) -> None:
        assert self.recovery is not None
        try:
            await self.store.heartbeat(self.node, time.time(), self.recovery.node_timeout)
        except Exception as exc:
            logger.warning("history: heartbeat of node %s failed: %r", self.node, exc)
        if self._opened is not None:
            self._schedule_beat()

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
        self._cancel_timers()
        for task in (self._pruning, self._beating):
            if task is not None:
                await asyncio.wait([task])
        self._cancel_timers()  # a task that ended meanwhile set its next one
        for sequencer in self._sequencers.values():
            sequencer.close()
        if self._opened is not None:
            self._opened = None
            await self.store.close()

    # -- writing --------------------------------------------------------------------------

    async def record(
        self,
        packet: Packet,
        rooms: Iterable[str],
        except_rooms: Iterable[str],
        sequencer: Sequencer | None = None,
    ) -> Packet:
        """Append ``packet`` and return it with its offset as the last argument.

        With a ``sequencer`` (recovery on), the caller then takes its turn there
        (``sequencer.turn``) and delivers the packet right after.
        """
        await self.open()
        encoded = encode(packet, self.serializer)
        ticket = sequencer.ticket() if sequencer is not None else 0
        try:
            offset = await self.store.append(
                packet.namespace, packet.data[0], encoded.text.encode(), rooms=rooms,
                except_rooms=except_rooms, attachments=encoded.attachments, now=time.time(),
            )
        finally:
            if sequencer is not None:
                sequencer.settle(ticket)
        return Packet(packet.type, packet.namespace, [*packet.data, str(offset)], packet.id)

    def sequencer(self, namespace: str, adapter: Adapter) -> Sequencer:
        """The namespace's delivery order (recovery on): made on first use."""
        found = self._sequencers.get(namespace)
        if found is None:
            wait = self.recovery.gap_wait if self.recovery is not None else 2.0
            found = Sequencer(namespace, self.store, adapter, self.to_packet, max_wait=wait)
            self._sequencers[namespace] = found
        return found

    def sent(self, namespace: str) -> int:
        """The offset up to which every event of ``namespace`` has gone to the sockets present."""
        found = self._sequencers.get(namespace)
        return 0 if found is None else found.delivered

    async def prime(self, namespace: str, adapter: Adapter) -> None:
        """Order deliveries from the store's last offset on (before a socket registers)."""
        await self.open()
        await self.sequencer(namespace, adapter).prime()

    def offer(self, adapter: Adapter, packet: Packet, opts: BroadcastOptions) -> bool:
        """A broadcast from another node: True when it is delivered here in offset order (it
        carries an offset, recovery is on); False: the caller delivers it now."""
        if self.recovery is None or opts.flags.volatile or not packet.data:
            return False
        offset = parse_offset(packet.data[-1])
        if offset is None:
            return False
        self.sequencer(packet.namespace, adapter).offer(offset, packet, opts)
        return True

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
        return SessionRecord(pid, sid, namespace, tuple(sorted(rooms)), raw, now, self.node)

    async def save(self, record: SessionRecord) -> None:
        """A socket connected: its session is this node's now (recovered from another or new)."""
        await self.open()
        await self.store.save_session(record)

    async def update(self, record: SessionRecord) -> None:
        """A connected socket's rooms or data changed: keep the stored session current, unless
        the client came back through another node meanwhile (that node holds it now)."""
        await self.open()
        if not await self.store.update_session(record):
            logger.debug("sid=%s session held elsewhere now; not updated", record.sid)

    async def keep_or_forget(self, record: SessionRecord, reason: str) -> None:
        """A socket left: keep its session if it may come back, else drop it (either only if
        this node still holds it: the client may be back through another node already)."""
        try:
            await self.open()
            if reason in RECOVERABLE_REASONS:
                await self.update(record)
            elif await self.store.update_session(record):  # still ours: then drop it
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
