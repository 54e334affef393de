"""What an Engine.IO session hands back to the layer above it."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Closed", "Event", "MessageReceived", "UpgradeFailed", "Upgraded"]


@dataclass(frozen=True, slots=True)
class MessageReceived:
    data: str | bytes


@dataclass(frozen=True, slots=True)
class Upgraded:
    """The session moved from long-polling to WebSocket."""

    transport: str = "websocket"


@dataclass(frozen=True, slots=True)
class UpgradeFailed:
    """An upgrade attempt was abandoned; the session carries on over polling."""

    detail: str


@dataclass(frozen=True, slots=True)
class Closed:
    """The session is over. ``reason`` is one of Node's: "transport close",
    "transport error", "parse error", "ping timeout", "forced close",
    "server shutting down"; ``detail`` keeps the cause for the log."""

    reason: str
    detail: str = ""


Event = MessageReceived | Upgraded | UpgradeFailed | Closed
