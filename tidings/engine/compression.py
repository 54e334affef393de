"""Compression of long-polling responses by ``Accept-Encoding`` (Node's ``httpCompression``).

Pure functions of the request's ``Accept-Encoding`` and the body: the encoding is
chosen as Node's engine.io chooses it (the ``negotiator`` package, offered
``gzip`` then ``deflate``), and a body under the threshold is sent as it is.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from functools import lru_cache

from tidings.engine.io import HttpRequest

__all__ = ["HttpCompression", "choose_encoding", "compress", "compressed"]

#: What a polling response may be compressed with, in the server's order of preference.
_OFFERED = ("gzip", "deflate")
#: zlib ``wbits`` of each: a gzip wrapper (mtime 0), a zlib one (Node's ``createDeflate``).
_WBITS = {"gzip": 31, "deflate": 15}


@dataclass(frozen=True, slots=True)
class HttpCompression:
    #: Responses shorter than this many bytes are sent as they are (Node: 1,024).
    threshold: int = 1024
    #: zlib level, 1 (fastest) to 9 (smallest). Node uses zlib's default, 6; tidings takes
    #: 1 (nginx's default), which on JSON batches costs half the CPU of 6 for output a few
    #: percent larger (docs/engine-hooks.md has the figures): the loop compresses inline.
    level: int = 1

    def __post_init__(self) -> None:
        if isinstance(self.threshold, bool) or not isinstance(self.threshold, int) or self.threshold < 0:
            raise ValueError(f"threshold must be a non-negative integer, got {self.threshold!r}")
        if isinstance(self.level, bool) or not isinstance(self.level, int) or not 1 <= self.level <= 9:
            raise ValueError(f"level must be an integer from 1 to 9, got {self.level!r}")


@lru_cache(maxsize=128)  # a browser sends the same header on every request
def choose_encoding(accept_encoding: str | None) -> str | None:
    """``"gzip"``, ``"deflate"`` or None (send as is) for a request's ``Accept-Encoding``.

    Node's choice, step for step: each offered coding takes the q of its most specific
    entry (its own name before ``*``; the later entry among equals); those with q > 0
    are ranked by q, then specificity, then where the entry stands in the header, then
    the server's order. No header, or one naming neither, is no compression.
    """
    if not accept_encoding:
        return None
    entries: list[tuple[str, float]] = []
    for item in accept_encoding.split(","):
        name, _, params = item.strip().partition(";")
        name = name.strip().lower()
        if not name or " " in name:
            continue
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
                break
        entries.append((name, q))
    best: tuple[float, int, int, int] | None = None
    chosen = None
    for index, coding in enumerate(_OFFERED):
        s, q, o = 0, 0.0, -1
        for position, (name, entry_q) in enumerate(entries):
            spec = 1 if name == coding else 0 if name == "*" else None
            if spec is None:
                continue
            s, q, o = max((s, q, o), (spec, entry_q, position))
        if not q > 0:
            continue
        # Rank: q high first, then s high, then o low, then index low.
        rank = (-q, -s, o, index)
        if best is None or rank < best:
            best, chosen = rank, coding
    return chosen


def compress(body: bytes, encoding: str, level: int) -> bytes:
    """``body`` as ``encoding`` (``"gzip"`` or ``"deflate"``) at zlib ``level``."""
    compressor = zlib.compressobj(level, zlib.DEFLATED, _WBITS[encoding])
    return compressor.compress(body) + compressor.flush()


def compressed(
    body: bytes, request: HttpRequest, options: HttpCompression, headers: list[tuple[str, str]]
) -> bytes:
    """``body`` as ``request`` accepts it, ``Content-Encoding`` added to ``headers`` when
    compressed; as it is when under ``options.threshold`` or nothing acceptable is offered."""
    if len(body) < options.threshold:
        return body
    encoding = choose_encoding(request.headers.get("accept-encoding"))
    if encoding is None:
        return body
    headers.append(("Content-Encoding", encoding))
    return compress(body, encoding, options.level)
