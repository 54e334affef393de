"""Client options, validated once, and the reconnection backoff they describe."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from tidings.protocol.socketio import DecoderLimits

__all__ = ["ClientOptions", "backoff_delay"]


@dataclass(frozen=True, slots=True)
class ClientOptions:
    """How a ``tidings.Client`` connects, reconnects and bounds what it holds.

    Delays and timeouts are in seconds. The reconnection knobs mean what the
    JavaScript client's Manager options of the same names mean.
    """

    reconnection: bool = True
    """Reconnect by itself after losing the connection (not after ``disconnect()``)."""
    reconnection_attempts: int | None = None
    """Attempts before giving up with ``reconnect_failed``; ``None`` never gives up."""
    reconnection_delay: float = 1.0
    """Delay before the first attempt; it doubles with each failed one..."""
    reconnection_delay_max: float = 5.0
    """...up to this."""
    randomization_factor: float = 0.5
    """Jitter: each delay is spread uniformly over ``delay * (1 ± factor)``, in [0, 1]."""
    timeout: float = 20.0
    """For one connection: the Engine.IO handshake and every namespace's CONNECT."""
    ack_timeout: float = 60.0
    """Default wait of ``emit_with_ack``."""
    max_offline_packets: int = 1000
    """Emits queued per namespace while disconnected; one more raises ``OfflineBufferFullError``."""
    max_message_size: int = 100_000_000
    """Largest long-polling body or WebSocket message accepted from the server."""
    concurrent_events: bool = False
    """Run event handlers as concurrent tasks instead of one at a time in arrival order."""
    decoder_limits: DecoderLimits = field(default_factory=DecoderLimits)

    def __post_init__(self) -> None:
        if self.reconnection_attempts is not None and (
            type(self.reconnection_attempts) is not int or self.reconnection_attempts < 0
        ):
            raise ValueError("reconnection_attempts must be None or an int >= 0")
        for name in ("reconnection_delay", "reconnection_delay_max", "timeout", "ack_timeout"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or math.isnan(value) or value <= 0:
                raise ValueError(f"{name} must be a positive number, not {value!r}")
        if self.reconnection_delay_max < self.reconnection_delay:
            raise ValueError("reconnection_delay_max must be >= reconnection_delay")
        if not 0 <= self.randomization_factor <= 1:
            raise ValueError("randomization_factor must be within [0, 1]")
        for name in ("max_offline_packets", "max_message_size"):
            value = getattr(self, name)
            if type(value) is not int or value < 1:
                raise ValueError(f"{name} must be a positive int, not {value!r}")


def backoff_delay(attempt: int, options: ClientOptions, rand: float) -> float:
    """The delay before reconnection attempt ``attempt`` (0 for the first), in seconds.

    Exponential (factor 2) from ``reconnection_delay``, spread by ``rand`` (in
    [0, 1)) over ``± randomization_factor``, then capped at ``reconnection_delay_max``
    as the JavaScript client's backoff does. A pure function, so tests need no clock.
    """
    delay = options.reconnection_delay * 2.0 ** min(attempt, 64)
    delay += (2.0 * rand - 1.0) * options.randomization_factor * delay
    return min(delay, options.reconnection_delay_max)
