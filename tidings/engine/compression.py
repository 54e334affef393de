"""Compression of long-polling responses by ``Accept-Encoding`` (Node's ``httpCompression``)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["HttpCompression"]


@dataclass(frozen=True, slots=True)
class HttpCompression:
    #: Responses shorter than this many bytes are sent as they are (Node: 1,024).
    threshold: int = 1024

    def __post_init__(self) -> None:
        if isinstance(self.threshold, bool) or not isinstance(self.threshold, int) or self.threshold < 0:
            raise ValueError(f"threshold must be a non-negative integer, got {self.threshold!r}")
