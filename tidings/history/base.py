"""What every history store holds and the one interface the server codes against.

The store serves two readers: a late joiner asking what was said in a room
(``last``), and connection state recovery, where a client that was away comes
back with ``{pid, offset}`` and must be sent everything it missed, once, in
order (``take_session`` then ``since``). Both the log and the sessions live in
the store, so recovery works after the server process is killed and restarted.

Offsets: one sequence per namespace (a client in several rooms has one offset),
starting at 1, without gaps, never reused, even after every entry was pruned.
``covers`` tells whether the entries after an offset are all still kept, so a
replay is either complete or refused, never silently short.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

#: The largest offset a client may send back (fits a signed 64-bit column).
MAX_OFFSET = 2**63 - 1

#: ``disconnected_at`` of a session whose socket is still connected. Saved at connect,
#: so a process killed outright leaves its sessions behind; ``sessions_lost`` dates them
#: when that node starts again, and another node dates them by the node's last heartbeat.
LIVE = float("inf")

#: The node of a server that was given none: a single server restarted keeps its id.
DEFAULT_NODE = "tidings"


@dataclass(frozen=True, slots=True)
class Entry:
    """One emit kept in the log."""

    offset: int
    namespace: str
    rooms: tuple[str, ...]
    """Rooms it was sent to; empty means the whole namespace."""
    except_rooms: tuple[str, ...]
    event: str
    payload: bytes
    """The encoded packet, opaque to the store."""
    attachments: tuple[bytes, ...]
    created_at: float
    """Wall-clock seconds, as passed to ``append``."""

    def visible_to(self, rooms: Iterable[str]) -> bool:
        """Whether a socket in ``rooms`` received this entry (Socket.IO broadcast rules)."""
        return visible(self.rooms, self.except_rooms, frozenset(rooms))


@dataclass(frozen=True, slots=True)
class NewEntry:
    """An entry before the store gave it an offset (the argument of ``append_many``)."""

    namespace: str
    event: str
    payload: bytes
    rooms: tuple[str, ...] = ()
    except_rooms: tuple[str, ...] = ()
    attachments: tuple[bytes, ...] = ()
    created_at: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.namespace, str):
            raise TypeError("namespace must be a str")
        if not isinstance(self.event, str):
            raise TypeError("event must be a str")
        if not isinstance(self.payload, bytes):
            raise TypeError("payload must be bytes (the encoded packet)")
        # Duplicates would only cost index rows; drop them, keep the order.
        object.__setattr__(self, "rooms", _room_tuple(self.rooms, "rooms"))
        object.__setattr__(self, "except_rooms", _room_tuple(self.except_rooms, "except_rooms"))
        attachments = tuple(self.attachments)
        if not all(isinstance(a, bytes) for a in attachments):
            raise TypeError("attachments must be bytes")
        object.__setattr__(self, "attachments", attachments)
        if not isinstance(self.created_at, (int, float)) or self.created_at != self.created_at:
            raise TypeError("created_at must be a number")

    def with_offset(self, offset: int) -> Entry:
        return Entry(
            offset,
            self.namespace,
            self.rooms,
            self.except_rooms,
            self.event,
            self.payload,
            self.attachments,
            float(self.created_at),
        )


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """What a disconnected socket needs to be restored: kept until taken or expired."""

    pid: str
    """The private id the client sends back; never shown to other clients."""
    sid: str
    namespace: str
    rooms: tuple[str, ...]
    data: bytes
    """The serialized ``socket.data``, opaque to the store."""
    disconnected_at: float
    """Wall-clock seconds (``LIVE`` while its socket is connected)."""
    node: str = DEFAULT_NODE
    """The node that holds (or last held) the socket."""

    def __post_init__(self) -> None:
        if not isinstance(self.pid, str) or not self.pid:
            raise ValueError("pid must be a non-empty str")
        if not isinstance(self.node, str) or not self.node:
            raise ValueError("node must be a non-empty str")
        if not isinstance(self.data, bytes):
            raise TypeError("data must be bytes")
        object.__setattr__(self, "rooms", _room_tuple(self.rooms, "rooms"))


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """How much history is kept. ``None`` turns a limit off; the defaults are bounded."""

    max_entries_per_namespace: int | None = 10_000
    """Enforced as part of every append, so the log never grows past it."""
    max_age_seconds: float | None = 24 * 3600.0
    """Enforced by ``prune(now)``."""
    session_max_age_seconds: float | None = 3600.0
    """Sessions disconnected longer than this are dropped by ``prune(now)``."""

    def __post_init__(self) -> None:
        if self.max_entries_per_namespace is not None and (
            isinstance(self.max_entries_per_namespace, bool)
            or not isinstance(self.max_entries_per_namespace, int)
            or self.max_entries_per_namespace < 1
        ):
            raise ValueError("max_entries_per_namespace must be a positive int or None")
        for name in ("max_age_seconds", "session_max_age_seconds"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be positive or None")


DEFAULT_RETENTION = RetentionPolicy()


@runtime_checkable
class HistoryStore(Protocol):
    """A durable (or, for ``MemoryHistory``, in-process) log of emits plus recovery sessions.

    Call ``open`` before anything else and ``close`` at shutdown; using a store
    that is not open raises ``RuntimeError``.
    """

    async def open(self) -> None:
        """Connect and create the schema if needed (idempotent)."""
        ...

    async def close(self) -> None:
        """Finish the appends under way, then release connections."""
        ...

    async def append(
        self,
        namespace: str,
        event: str,
        payload: bytes,
        *,
        rooms: Iterable[str] = (),
        except_rooms: Iterable[str] = (),
        attachments: Iterable[bytes] = (),
        now: float,
    ) -> int:
        """Store one emit and return its offset; durable once this returns.

        Concurrent calls share one transaction (group commit). Cancelling the
        caller does not retract an entry already being written.
        """
        ...

    async def append_many(self, entries: Sequence[NewEntry]) -> list[int]:
        """Store several emits in one transaction, offsets in the given order."""
        ...

    async def since(
        self,
        namespace: str,
        offset: int,
        *,
        rooms: Iterable[str] | None = None,
        limit: int = 1000,
    ) -> list[Entry]:
        """Entries after ``offset``, oldest first, at most ``limit``.

        With ``rooms`` (a socket's rooms), only what such a socket received:
        sent to the whole namespace or to one of ``rooms``, and to none of them
        as an exception.
        """
        ...

    async def last(self, namespace: str, room: str | None, n: int) -> list[Entry]:
        """The last ``n`` entries sent to ``room`` (``None``: the whole log), oldest first."""
        ...

    async def last_offset(self, namespace: str) -> int:
        """The highest offset ever given in ``namespace`` (0 before the first append)."""
        ...

    async def covers(self, namespace: str, offset: int) -> bool:
        """Whether every entry after ``offset`` is still kept (nothing pruned past it)."""
        ...

    async def save_session(self, record: SessionRecord) -> None:
        """Keep (or replace) the session of a socket that went away; durable on return."""
        ...

    async def update_session(self, record: SessionRecord) -> bool:
        """Replace the session of ``record.pid`` only if it is still held by ``record.node``;
        whether it was. A node whose client came back through another node meanwhile (which
        took the session and saved it as its own) must not write over it."""
        ...

    async def take_session(self, pid: str, max_age: float, now: float) -> SessionRecord | None:
        """Remove and return the session, unless missing or older than ``max_age``.

        A ``LIVE`` session whose node's heartbeat has lapsed (see ``heartbeat``) counts as
        disconnected at that node's last heartbeat. A pid is recovered at most once, even
        by two processes racing for it.
        """
        ...

    async def sessions_lost(self, now: float, node: str = DEFAULT_NODE) -> int:
        """Date every ``LIVE`` session of ``node`` as disconnected at ``now``; return how many.

        Called when a node starts: the sockets of its previous process are gone. The
        sessions of other nodes are theirs.
        """
        ...

    async def heartbeat(self, node: str, now: float, timeout: float) -> None:
        """``node`` is alive at ``now``. Without a newer beat within ``timeout`` seconds, its
        ``LIVE`` sessions count as disconnected at ``now`` (it was killed)."""
        ...

    async def prune(self, now: float) -> int:
        """Apply the retention policy; return how many entries were removed."""
        ...


def visible(
    rooms: Sequence[str], except_rooms: Sequence[str], socket_rooms: frozenset[str]
) -> bool:
    """Socket.IO's rule: to everyone (or one of the socket's rooms), minus the excepted."""
    if rooms and socket_rooms.isdisjoint(rooms):
        return False
    return socket_rooms.isdisjoint(except_rooms)


def disconnected_at(
    record_at: float, last_seen: float | None, expires_at: float | None, now: float
) -> float:
    """When a session counts as disconnected: its own date, or for a ``LIVE`` session of a
    node whose heartbeat lapsed (``now`` past ``expires_at``), that node's last heartbeat."""
    if record_at == LIVE and last_seen is not None and expires_at is not None and now > expires_at:
        return last_seen
    return record_at


def check_offset(offset: int) -> None:
    if isinstance(offset, bool) or not isinstance(offset, int):
        raise TypeError("offset must be an int")
    if not 0 <= offset <= MAX_OFFSET:
        raise ValueError("offset out of range")


def check_count(value: int, name: str, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}")


def socket_rooms(rooms: Iterable[str] | None) -> frozenset[str] | None:
    if rooms is None:
        return None
    if isinstance(rooms, str):
        raise TypeError("rooms must be an iterable of str, not a str")
    result = frozenset(rooms)
    if not all(isinstance(r, str) for r in result):
        raise TypeError("rooms must be str")
    return result


class AppendOne:
    """``append`` as one-entry ``append_many``: the stores differ only in the latter."""

    __slots__ = ()

    async def append(
        self,
        namespace: str,
        event: str,
        payload: bytes,
        *,
        rooms: Iterable[str] = (),
        except_rooms: Iterable[str] = (),
        attachments: Iterable[bytes] = (),
        now: float,
    ) -> int:
        entry = new_entry(namespace, event, payload, rooms, except_rooms, attachments, now)
        return (await self.append_many((entry,)))[0]

    async def append_many(self, entries: Sequence[NewEntry]) -> list[int]:
        raise NotImplementedError


def check_entries(entries: Sequence[NewEntry]) -> None:
    if not all(isinstance(e, NewEntry) for e in entries):
        raise TypeError("append_many takes NewEntry objects")


def new_entry(
    namespace: str,
    event: str,
    payload: bytes,
    rooms: Iterable[str],
    except_rooms: Iterable[str],
    attachments: Iterable[bytes],
    now: float,
) -> NewEntry:
    """``append``'s arguments as a validated ``NewEntry`` (shared by the backends)."""
    return NewEntry(
        namespace,
        event,
        payload,
        _room_tuple(rooms, "rooms"),
        _room_tuple(except_rooms, "except_rooms"),
        tuple(attachments),
        now,
    )


def _room_tuple(rooms: Iterable[str], name: str) -> tuple[str, ...]:
    if isinstance(rooms, str):
        raise TypeError(f"{name} must be an iterable of str, not a str")
    result = tuple(dict.fromkeys(rooms))
    if not all(isinstance(r, str) for r in result):
        raise TypeError(f"{name} must be str")
    return result
