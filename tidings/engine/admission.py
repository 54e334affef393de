"""``Admission``: new sessions per client address, so that no one address locks others out.

Two bounds, both off by default (behind a proxy every client has the proxy's address:
set them where the engine sees the clients' own): handshakes per address per second
(a token bucket each), and sessions open at once per address. Past either, a new
session is refused with 429; sessions already open are not touched.
"""

from __future__ import annotations

from tidings.engine.token_bucket import TokenBucket
from tidings.protocol.engineio.requests import ErrorCode, RequestError

__all__ = ["TOO_MANY_HANDSHAKES", "TOO_MANY_SESSIONS", "Admission"]

TOO_MANY_HANDSHAKES = RequestError(429, ErrorCode.BAD_REQUEST, "Too many handshakes")
TOO_MANY_SESSIONS = RequestError(429, ErrorCode.BAD_REQUEST, "Too many sessions")
#: Buckets kept before full ones (addresses quiet for a while) are forgotten.
_PRUNE_AT = 10_000


class Admission:
    """Counts sessions and handshakes per address (one per ``EngineServer``)."""

    __slots__ = ("_buckets", "_open", "_sessions", "burst", "max_sessions", "rate", "refused")

    def __init__(self, max_sessions: int | None, rate: float | None, burst: float | None) -> None:
        self.max_sessions = max_sessions
        self.rate = rate
        self.burst = max(1.0, burst if burst is not None else (rate or 1.0))
        self._open: dict[str, int] = {}  # address -> sessions open
        self._sessions: dict[str, str] = {}  # sid -> address, while open
        self._buckets: dict[str, TokenBucket] = {}
        self.refused = 0
        """New sessions refused so far."""

    @property
    def active(self) -> bool:
        return self.max_sessions is not None or self.rate is not None

    def check(self, address: str | None, now: float) -> RequestError | None:
        """None to let a new session from ``address`` in, else the refusal."""
        if address is None:
            return None
        error = None
        if self.max_sessions is not None and self._open.get(address, 0) >= self.max_sessions:
            error = TOO_MANY_SESSIONS
        elif self.rate is not None:
            bucket = self._buckets.get(address)
            if bucket is None:
                if len(self._buckets) >= _PRUNE_AT:
                    self._prune(now)
                bucket = self._buckets[address] = TokenBucket(self.rate, self.burst, now)
            if not bucket.take(1, now):
                error = TOO_MANY_HANDSHAKES
        if error is not None:
            self.refused += 1
        return error

    def opened(self, sid: str, address: str | None) -> None:
        if address is not None and self.max_sessions is not None:
            self._sessions[sid] = address
            self._open[address] = self._open.get(address, 0) + 1

    def closed(self, sid: str) -> None:
        address = self._sessions.pop(sid, None)
        if address is not None:
            left = self._open[address] - 1
            if left:
                self._open[address] = left
            else:
                del self._open[address]

    def _prune(self, now: float) -> None:
        """Forget addresses whose bucket is full again: they have been quiet."""
        for address, bucket in list(self._buckets.items()):
            bucket.take(0, now)
            if bucket.tokens >= bucket.capacity:
                del self._buckets[address]
