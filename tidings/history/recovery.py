"""Connection state recovery on top of any store: the steps the server takes, in the safe order.

A client coming back sends ``{pid, offset}``. The session is taken first (a pid
is used once, even if what follows fails), the missed entries are read in
pages, and only then is ``covers`` asked: pruning only moves forward, so if
nothing was pruned past the offset after the read, nothing was during it, and
the replay is complete. Anything short of complete is a refusal (``None``):
the client then starts a fresh session, as the Socket.IO protocol expects.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from tidings.history.base import MAX_OFFSET, Entry, HistoryStore, SessionRecord

log = logging.getLogger("tidings.history")


@dataclass(frozen=True, slots=True)
class Recovered:
    session: SessionRecord
    missed: tuple[Entry, ...]
    """What the socket's rooms received after its offset, oldest first."""


def parse_offset(value: object) -> int | None:
    """The client's offset (the string we appended to its events) as an int, if it is one."""
    if not isinstance(value, str) or not 0 < len(value) <= 19 or not value.isascii():
        return None
    if not value.isdigit() or (len(value) > 1 and value[0] == "0"):
        return None
    offset = int(value)
    return offset if offset <= MAX_OFFSET else None


async def recover(
    store: HistoryStore,
    namespace: str,
    pid: object,
    offset: object,
    *,
    max_age: float,
    now: float,
    max_missed: int = 10_000,
    page: int = 1000,
) -> Recovered | None:
    """The session of ``pid`` and everything it missed, or ``None`` when that cannot be whole.

    ``pid`` and ``offset`` are taken as the client sent them (untrusted).
    ``max_missed`` bounds the memory a replay may take.
    """
    if not isinstance(pid, str) or not pid:
        return None
    session = await store.take_session(pid, max_age, now)
    if session is None:
        return None
    if session.namespace != namespace:
        log.info("recovery refused: sid=%s pid for namespace %s", session.sid, session.namespace)
        return None
    start = parse_offset(offset)
    if start is None:
        log.info("recovery refused: sid=%s invalid offset", session.sid)
        return None
    missed: list[Entry] = []
    cursor = start
    while True:
        batch = await store.since(namespace, cursor, rooms=session.rooms, limit=page)
        missed.extend(batch)
        if len(missed) > max_missed:
            log.info("recovery refused: sid=%s missed more than %d", session.sid, max_missed)
            return None
        if len(batch) < page:
            break
        cursor = batch[-1].offset
    if not await store.covers(namespace, start):
        log.info("recovery refused: sid=%s offset %d is pruned or unknown", session.sid, start)
        return None
    return Recovered(session, tuple(missed))
