"""The built-in server and the open-file limit (``RLIMIT_NOFILE``).

Every connection holds a file descriptor, and so does everything else the process
opens: files, Redis and PostgreSQL connections, log files. A connection cap above
the limit means the process runs out of descriptors before it refuses anyone, and
then ``accept`` fails, and so does every file or database connection the app opens.
So at start the server raises the soft limit toward the hard one when the cap needs
it, and otherwise lowers its cap to what fits, saying so.

When ``accept`` fails all the same (descriptors taken by the app, or the system-wide
limit), asyncio logs an error with a traceback each time it retries (every second)
and keeps serving: ``AcceptErrors`` replaces those with one line per interval that
says what happened and how often.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import resource
from typing import Any

from tidings.logging_limits import LogLimiter

__all__ = ["HEADROOM", "AcceptErrors", "connection_cap"]

logger = logging.getLogger("tidings.standalone")

HEADROOM = 64
"""Descriptors kept for what is not a client connection (files, Redis, PostgreSQL, logs)."""


def connection_cap(max_connections: int, headroom: int = HEADROOM) -> int:
    """The connection cap that leaves ``headroom`` descriptors under the open-file limit:
    ``max_connections`` when the soft limit allows it (raised toward the hard limit if it
    must be), else less, logged with how many (a WARNING when it is under 90 % of
    ``max_connections``, else INFO)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = max_connections + headroom
    if soft == resource.RLIM_INFINITY or want <= soft:
        return max_connections
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if target > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            pass
        else:
            logger.info("raised the open-file limit from %d to %d", soft, target)
            soft = target
    if want <= soft:
        return max_connections
    cap = max(soft - headroom, 1)
    # A cap a few percent short is not worth a warning in a quiet production log (a hard
    # limit of 20 000 and the default cap of 20 000, say); a cap well short of it is.
    logger.log(
        logging.WARNING if cap < max_connections * 0.9 else logging.INFO,
        "the open-file limit is %d (hard limit %s): at most %d connections, not the %d of "
        "max_connections (%d files kept for the rest); raise it (ulimit -n, systemd's "
        "LimitNOFILE) to serve more",
        soft, "unlimited" if hard == resource.RLIM_INFINITY else hard, cap, max_connections,
        headroom,
    )
    return cap


# What asyncio's accept loop reports, and retries a second later (files, then memory).
_OUT_OF_RESOURCES = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)


class AcceptErrors:
    """A loop exception handler for the server's lifetime: failed ``accept`` calls for want
    of descriptors (or of memory) are logged once per ``interval`` seconds with a count;
    anything else goes to the handler that was there before."""

    def __init__(self, loop: asyncio.AbstractEventLoop, interval: float = 10.0) -> None:
        self.loop = loop
        self.count = 0
        """Failed accepts so far (asyncio retries every second while it lasts)."""
        self.limiter = LogLimiter(logger, burst=1, interval=interval)
        self._previous = loop.get_exception_handler()
        loop.set_exception_handler(self._handle)

    def _handle(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if (
            isinstance(exc, OSError)
            and exc.errno in _OUT_OF_RESOURCES
            and "accept" in str(context.get("message", ""))
        ):
            self.count += 1
            name = errno.errorcode[exc.errno]
            soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
            self.limiter.warning(
                f"accept failed, {name}",
                "accept failed: %s, %s (open-file limit %d); new connections wait in the "
                "backlog and are accepted once it frees up",
                name, os.strerror(exc.errno), soft,
            )
            return
        if self.count and isinstance(exc, ValueError) and _retries_accept(context):
            # asyncio (3.11) schedules a retry for every failed accept of a burst, up to the
            # backlog: those still pending when the server closed fail on its closed socket.
            return
        if self._previous is not None:
            self._previous(loop, context)
        else:
            loop.default_exception_handler(context)

    def close(self) -> None:
        """Log what is held back, and put the previous handler back (if no one replaced ours)
        unless asyncio may still retry an accept on the closed socket."""
        if not self.count and self.loop.get_exception_handler() == self._handle:
            self.loop.set_exception_handler(self._previous)
        self.limiter.flush(final=True)


def _retries_accept(context: dict[str, Any]) -> bool:
    """Whether the failed callback is asyncio's retry of ``accept``."""
    handle = context.get("handle")
    callback = getattr(handle, "_callback", None)
    return getattr(callback, "__name__", "") == "_start_serving"
