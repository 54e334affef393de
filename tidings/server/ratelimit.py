"""Rate limits on what clients send: token buckets per connection and per event.

Sans-I/O: a bucket is told the time, it never reads a clock. ``RateLimit`` is the
rule (``Server(rate_limit=...)``, ``sio.limit(event, ...)``); a ``Limiter`` holds one
peer's buckets for one rule. See docs/limits.md for what happens at the limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from tidings.engine.token_bucket import TokenBucket

__all__ = ["RATE_LIMITED", "Limiter", "RateLimit", "RateLimitCounts", "TokenBucket"]

#: The ``error`` of the ack a dropped event's ack request gets.
RATE_LIMITED = "rate limited"


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most ``packets_per_second`` packets (bursts of ``burst``) and ``bytes_per_second``
    bytes (bursts of ``byte_burst``; one message bigger than that still passes, then the
    bucket owes it). ``on_limit``: "drop" the packet (an ack request gets an error ack), or
    "disconnect" the client."""

    packets_per_second: float | None = None
    burst: float | None = None
    """Packets at once; defaults to one second's worth (at least 1)."""
    bytes_per_second: float | None = None
    byte_burst: float | None = None
    """Bytes at once; defaults to one second's worth."""
    on_limit: Literal["drop", "disconnect"] = "drop"

    def __post_init__(self) -> None:
        if self.packets_per_second is None and self.bytes_per_second is None:
            raise ValueError("a RateLimit needs packets_per_second or bytes_per_second")
        for name in ("packets_per_second", "burst", "bytes_per_second", "byte_burst"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be positive")
        if self.on_limit not in ("drop", "disconnect"):
            raise ValueError('on_limit must be "drop" or "disconnect"')

    def limiter(self, now: float) -> Limiter:
        """Fresh buckets (full) for one peer."""
        return Limiter(self, now)


class Limiter:
    """One peer's buckets for one ``RateLimit``."""

    __slots__ = ("bytes", "packets", "rule")

    def __init__(self, rule: RateLimit, now: float) -> None:
        self.rule = rule
        pps, bps = rule.packets_per_second, rule.bytes_per_second
        self.packets = None if pps is None else TokenBucket(
            pps, rule.burst if rule.burst is not None else max(1.0, pps), now)
        self.bytes = None if bps is None else TokenBucket(
            bps, rule.byte_burst if rule.byte_burst is not None else bps, now)

    def charge(self, size: int, now: float) -> None:
        """Bytes of a packet not complete yet (a binary attachment): they count too."""
        if self.bytes is not None:
            self.bytes.spend(size, now)

    def admit(self, size: int, now: float) -> bool:
        """One packet of ``size`` bytes: within the limit? It counts either way: a packet
        dropped for the limit is owed (up to one burst), so a client that keeps sending
        past it waits longer, not less (``retry_after`` grows with what it sent)."""
        ok = True
        if self.bytes is not None:
            ok = self.bytes.spend(size, now)
        packets = self.packets
        if packets is not None and not packets.take(1, now):
            # Owed, up to one burst: a flood then waits a burst's time, not forever.
            packets.tokens = max(packets.tokens - 1, -packets.capacity)
            ok = False
        return ok

    def wait(self, now: float) -> float:
        """Seconds from ``now`` until a packet would pass."""
        wait = 0.0
        for bucket, amount in ((self.packets, 1.0), (self.bytes, 1e-9)):
            if bucket is not None:
                wait = max(wait, bucket.wait(amount) - (now - bucket.stamp))
        return wait

    def retry_after(self) -> float:
        """Seconds until a packet would pass again (after ``admit`` said no)."""
        wait = 0.0
        if self.packets is not None:
            wait = self.packets.wait(1)
        if self.bytes is not None:
            wait = max(wait, self.bytes.wait(1e-9))
        return round(wait, 3)


@dataclass(slots=True)
class RateLimitCounts:
    """What the limits did since the server started (``Server.rate_limited``)."""

    dropped: int = 0
    """Packets dropped (with an error ack when one was asked for)."""
    disconnected: int = 0
    """Clients disconnected for going over a limit."""
