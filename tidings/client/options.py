"""Client options, validated once, and the reconnection backoff they describe."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from ssl import SSLContext
from typing import TypedDict
from urllib.parse import urlsplit

from tidings.protocol.socketio import DecoderLimits

__all__ = ["ClientOptions", "OptionOverrides", "backoff_delay"]


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
    """Default wait of ``emit_with_ack``; with ``retries``, the wait of each try."""
    retries: int = 0
    """Re-send an emit not acknowledged within ``ack_timeout`` up to this many times.

    As the JavaScript client's ``retries``: every emit but a volatile one then
    asks for an acknowledgement and goes through a queue per namespace, one in
    flight at a time, in order; each is delivered at least once (the server
    may see it more than once) and answered once.
    """
    ssl: SSLContext | bool = True
    """TLS for ``https``/``wss`` URLs: ``True`` verifies against the system's
    certificates, an ``ssl.SSLContext`` is used as given (a private CA, a
    client certificate), ``False`` turns verification off (development only)."""
    proxy: str | None = None
    """An HTTP proxy for both transports, as ``http://[user:password@]host:port``:
    ``https``/``wss`` go through a CONNECT tunnel, plain ``http``/``ws`` are forwarded."""
    max_offline_packets: int = 1000
    """Emits queued per namespace while disconnected; one more raises ``OfflineBufferFullError``."""
    max_message_size: int = 100_000_000
    """Largest long-polling body or WebSocket message accepted from the server."""
    concurrent_events: bool = False
    """Run event handlers as concurrent tasks instead of one at a time in arrival order."""
    per_message_deflate: bool = False
    """Offer permessage-deflate (RFC 7692) on the WebSocket, as the JavaScript client's
    ``perMessageDeflate``: used when the server accepts (its ``perMessageDeflate`` on)."""
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
        if type(self.retries) is not int or self.retries < 0:
            raise ValueError(f"retries must be an int >= 0, not {self.retries!r}")
        if not isinstance(self.ssl, (bool, SSLContext)):
            raise TypeError(f"ssl must be a bool or an ssl.SSLContext, not {self.ssl!r}")
        if self.proxy is not None:
            proxy = urlsplit(self.proxy)
            if proxy.scheme not in ("http", "https") or not proxy.hostname:
                raise ValueError(f"proxy must be an http:// or https:// URL, not {self.proxy!r}")
        for name in ("max_offline_packets", "max_message_size"):
            value = getattr(self, name)
            if type(value) is not int or value < 1:
                raise ValueError(f"{name} must be a positive int, not {value!r}")


class OptionOverrides(TypedDict, total=False):
    """``ClientOptions``' fields, as keyword arguments of ``Client`` and ``SyncClient``."""

    reconnection: bool
    reconnection_attempts: int | None
    reconnection_delay: float
    reconnection_delay_max: float
    randomization_factor: float
    timeout: float
    ack_timeout: float
    retries: int
    ssl: SSLContext | bool
    proxy: str | None
    max_offline_packets: int
    max_message_size: int
    concurrent_events: bool
    per_message_deflate: bool
    decoder_limits: DecoderLimits


def backoff_delay(attempt: int, options: ClientOptions, rand: float) -> float:
    """The delay before reconnection attempt ``attempt`` (0 for the first), in seconds.

    Exponential (factor 2) from ``reconnection_delay``, spread by ``rand`` (in
    [0, 1)) over ``± randomization_factor``, then capped at ``reconnection_delay_max``
    as the JavaScript client's backoff does. A pure function, so tests need no clock.
    """
    delay = options.reconnection_delay * 2.0 ** min(attempt, 64)
    delay += (2.0 * rand - 1.0) * options.randomization_factor * delay
    return min(delay, options.reconnection_delay_max)
