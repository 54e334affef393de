"""Socket.IO-level options, validated once."""

from __future__ import annotations

from dataclasses import dataclass, field

from tidings.adapters.base import SLOW_CONSUMER_POLICIES, SlowConsumer
from tidings.protocol.socketio import DecoderLimits
from tidings.server.ratelimit import RateLimit


@dataclass(frozen=True, slots=True)
class ServerOptions:
    connect_timeout: float = 10.0
    """Seconds a new connection may take to join a first namespace (Node: 45): a client
    sends its CONNECT right after the handshake, and a session that never does holds a
    place under ``max_connections`` until this ends."""
    concurrent_events: bool = False
    """Run one client's event handlers concurrently instead of in arrival order."""
    decoder_limits: DecoderLimits = field(default_factory=DecoderLimits)
    cleanup_empty_child_namespaces: bool = False
    """Remove a child of a dynamic namespace when its last socket leaves (Node 4.6+)."""
    max_pending_events: int = 256
    """Events of one socket waiting for its handlers: at this many its connection stops
    reading, until they are down to a quarter of it (see docs/limits.md)."""
    rate_limit: RateLimit | None = None
    """Every connection's packets (``tidings.RateLimit``); None: no limit."""
    slow_consumer: SlowConsumer = "disconnect"
    """What a client that does not read fast enough may miss (``tidings.SlowConsumer``);
    a namespace may set its own (``Namespace.slow_consumer``)."""

    def __post_init__(self) -> None:
        if self.connect_timeout <= 0:
            raise ValueError("connect_timeout must be positive")
        if self.max_pending_events < 1:
            raise ValueError("max_pending_events must be at least 1")
        check_slow_consumer(self.slow_consumer)


def check_slow_consumer(policy: str) -> None:
    if policy not in SLOW_CONSUMER_POLICIES:
        raise ValueError(f"slow_consumer is one of {', '.join(SLOW_CONSUMER_POLICIES)}, not {policy!r}")
