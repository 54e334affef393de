"""permessage-deflate (RFC 7692): the options a server offers and accepts.

Off by default, as in Node's engine.io 4+: compression costs CPU on every message and
helps only large, repetitive payloads.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DeflateOptions"]


@dataclass(frozen=True, slots=True)
class DeflateOptions:
    #: Messages shorter than this many bytes are sent uncompressed (Node's ``ws``: 1,024).
    threshold: int = 1024

    def __post_init__(self) -> None:
        if isinstance(self.threshold, bool) or not isinstance(self.threshold, int) or self.threshold < 0:
            raise ValueError(f"threshold must be a non-negative integer, got {self.threshold!r}")
