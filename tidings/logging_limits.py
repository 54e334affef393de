"""Rate limits for log lines that a peer can cause.

A line per malformed packet (or per failed ``accept``) is one line per attacker's
attempt: a flood of bad input would become a flood of log lines, filling disks and
hiding everything else. ``LogLimiter`` lets the first ``burst`` lines of each kind
through in every ``interval`` seconds, counts the rest, and says how many it held
back in one summary line when the interval is over. The clock is injected, so it is
tested without waiting.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

__all__ = ["LogLimiter"]


class _Window:
    __slots__ = ("logged", "start", "suppressed")

    def __init__(self, start: float) -> None:
        self.start = start
        self.logged = 0
        self.suppressed = 0


class LogLimiter:
    """At most ``burst`` lines per ``interval`` seconds for each kind of line on ``logger``,
    then one summary line ``"N more like this suppressed ..."`` for the held-back ones.

    The summary is logged when the next line of that kind comes after the interval, or,
    when an event loop runs, by a timer at the interval's end (``flush`` logs it too)."""

    def __init__(
        self,
        logger: logging.Logger,
        *,
        burst: int = 10,
        interval: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if burst < 1 or not interval > 0:
            raise ValueError("burst must be at least 1 and interval positive")
        self.logger = logger
        self.burst = burst
        self.interval = interval
        self.clock = clock
        self._windows: dict[str, _Window] = {}
        self._levels: dict[str, int] = {}
        self._timer: asyncio.TimerHandle | None = None

    def log(self, level: int, kind: str, msg: str, *args: object) -> bool:
        """Log ``msg % args`` at ``level`` unless ``kind`` used its burst this interval
        (then it is counted). True when the line was logged."""
        if not self.logger.isEnabledFor(level):
            return False
        now = self.clock()
        window = self._windows.get(kind)
        if window is None or now - window.start >= self.interval:
            if window is not None:
                self._summarize(kind, window, now)
            window = self._windows[kind] = _Window(now)
        if window.logged < self.burst:
            window.logged += 1
            self.logger.log(level, msg, *args)
            return True
        if not window.suppressed:
            self._levels[kind] = level
            self._schedule(window.start + self.interval - now)
        window.suppressed += 1
        return False

    def warning(self, kind: str, msg: str, *args: object) -> bool:
        return self.log(logging.WARNING, kind, msg, *args)

    def flush(self, final: bool = False) -> None:
        """Log the summary of every kind whose interval is over (the timer calls this);
        ``final``: of every kind, now (when what logs them stops)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        now = self.clock()
        for kind, window in list(self._windows.items()):
            if final or now - window.start >= self.interval:
                del self._windows[kind]
                self._summarize(kind, window, now)
        if any(w.suppressed for w in self._windows.values()):
            soonest = min(w.start for w in self._windows.values() if w.suppressed)
            self._schedule(soonest + self.interval - now)

    def _summarize(self, kind: str, window: _Window, now: float) -> None:
        if window.suppressed:
            self.logger.log(
                self._levels.get(kind, logging.WARNING),
                "%d more like this suppressed (%s) in the last %.0fs",
                window.suppressed, kind, now - window.start,
            )

    def _schedule(self, delay: float) -> None:
        if self._timer is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop: the next line of the kind, or a flush, reports it
        self._timer = loop.call_later(max(delay, 0.0), self.flush)
