"""Limits of the built-in HTTP/1.1 + WebSocket server, with safe defaults.

The maximum request body and WebSocket message size are not here: they are
the engine's ``options.max_payload`` (``maxHttpBufferSize``), so both I/O
layers enforce the same bound.
"""

from __future__ import annotations

from dataclasses import dataclass

from tidings.protocol.websocket import DEFAULT_MAX_FRAGMENTS


@dataclass(frozen=True, slots=True)
class HttpOptions:
    max_connections: int = 20_000
    """Connections beyond this are closed as soon as they are accepted."""
    max_header_count: int = 100
    max_header_bytes: int = 16_384
    """Request line and headers together, counted as they arrive; more is answered 431."""
    max_url_bytes: int = 8_192
    """A longer request target is answered 414, as soon as it is passed."""
    header_timeout: float = 10.0
    """From a request's first byte to the end of its headers (slowloris)."""
    body_timeout: float = 30.0
    """From the end of the headers to the end of the body."""
    keep_alive_timeout: float = 5.0
    """An idle keep-alive connection is closed after this."""
    max_pipelined: int = 8
    """Complete requests queued behind the one in progress before reading pauses."""
    write_buffer_limit: int = 65_536
    """Answered bytes one HTTP connection's client has not read yet: above it the
    server answers nothing more on that connection (so reading pauses at
    ``max_pipelined``) until they drain."""
    ws_max_buffered: int = 16 * 1024 * 1024
    """Bytes queued for one WebSocket while the peer does not read; beyond it the
    connection is closed with 1008."""
    ws_close_timeout: float = 5.0
    """How long to wait for the peer's side of a close before dropping TCP, and for
    the pong to an idle check's ping."""
    ws_max_fragments: int = DEFAULT_MAX_FRAGMENTS
    """Frames one WebSocket message may span; more closes the connection with 1008."""
    ws_idle_timeout: float | None = 120.0
    """A plain WebSocket route's connection from which nothing arrived for this long
    is pinged, and closed with 1001 if nothing arrives ``ws_close_timeout`` later.
    ``None``: never (Socket.IO connections have their own heartbeat)."""

    forwarded_allow_ips: frozenset[str] | None = None
    """Peers trusted to say who the client is: from them, ``X-Forwarded-For`` gives the
    client's address (the nearest hop that is not itself trusted) and ``X-Forwarded-Proto``
    the scheme, as uvicorn's ``--proxy-headers``. ``None``: the headers are ignored;
    ``{"*"}``: any peer is trusted (only behind a proxy that sets them)."""
    access_log: bool = True
    """One INFO line per answered request on the ``tidings.access`` logger."""

    def __post_init__(self) -> None:
        if self.forwarded_allow_ips is not None:
            object.__setattr__(self, "forwarded_allow_ips", frozenset(self.forwarded_allow_ips))
        for name in (
            "max_connections",
            "max_header_count",
            "max_header_bytes",
            "max_url_bytes",
            "max_pipelined",
            "write_buffer_limit",
            "ws_max_buffered",
            "ws_max_fragments",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        for name in ("header_timeout", "body_timeout", "keep_alive_timeout", "ws_close_timeout"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive")
        if self.ws_idle_timeout is not None and not self.ws_idle_timeout > 0:
            raise ValueError("ws_idle_timeout must be positive or None")
