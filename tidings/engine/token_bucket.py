"""``TokenBucket``: a rate with bursts, told the time (it never reads a clock).

Shared by the engine's admission of new sessions and the server's rate limits.
"""

from __future__ import annotations

__all__ = ["TokenBucket"]


class TokenBucket:
    """``rate`` tokens a second, holding at most ``capacity``; starts full."""

    __slots__ = ("capacity", "rate", "stamp", "tokens")

    def __init__(self, rate: float, capacity: float, now: float) -> None:
        self.rate = rate
        self.capacity = capacity
        self.tokens = capacity
        self.stamp = now

    def _refill(self, now: float) -> None:
        elapsed = now - self.stamp
        if elapsed > 0:
            self.tokens = min(self.capacity, self.tokens + elapsed * self.rate)
            self.stamp = now

    def take(self, amount: float, now: float) -> bool:
        """Take ``amount`` tokens if there are that many."""
        self._refill(now)
        if self.tokens >= amount:
            self.tokens -= amount
            return True
        return False

    def spend(self, amount: float, now: float) -> bool:
        """Take ``amount`` even into debt (bytes already read are spent either way);
        True if the bucket was not in debt before."""
        self._refill(now)
        ok = self.tokens > 0
        self.tokens -= amount
        return ok

    def wait(self, amount: float) -> float:
        """Seconds until ``amount`` tokens are there (as of the last take or spend)."""
        return max(0.0, (amount - self.tokens) / self.rate)
