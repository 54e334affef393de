"""Limits of the built-in HTTP/1.1 + WebSocket server, with safe defaults.

The maximum request body and WebSocket message size are not here: they are
the engine's ``options.max_payload`` (``maxHttpBufferSize``), so both I/O
layers enforce the same bound.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class HttpOptions:
    max_connections: int = 20_000
    """Connections beyond this are closed as soon as they are accepted."""
    max_header_count: int = 100
    max_header_bytes: int = 16_384
    """Request line and headers together; more is answered 431."""
    max_url_bytes: int = 8_192
    """A longer request target is answered 414."""
    header_timeout: float = 10.0
    """From a request's first byte to the end of its headers (slowloris)."""
    body_timeout: float = 30.0
    """From the end of the headers to the end of the body."""
    keep_alive_timeout: float = 5.0
    """An idle keep-alive connection is closed after this."""
    max_pipelined: int = 8
    """Complete requests queued behind the one in progress before reading pauses."""
    ws_max_buffered: int = 16 * 1024 * 1024
    """Bytes queued for one WebSocket while the peer does not read; beyond it the
    connection is closed with 1008."""
    ws_close_timeout: float = 5.0
    """How long to wait for the peer's side of a close before dropping TCP."""

    def __post_init__(self) -> None:
        for name in (
            "max_connections",
            "max_header_count",
            "max_header_bytes",
            "max_url_bytes",
            "max_pipelined",
            "ws_max_buffered",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        for name in ("header_timeout", "body_timeout", "keep_alive_timeout", "ws_close_timeout"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive")
