"""The interface every Redis wire format implements (classic, sharded, streams).

A format is a codec plus its channel names: it turns ``ClusterMessage`` values into
``Outgoing`` publishes or stream entries and reads them back, and it says what to
subscribe to and how servers are counted. Sans-I/O: the cluster adapter does the I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from tidings.adapters.redis.messages import ClusterMessage, Outgoing, Room

__all__ = ["Subscriptions", "WireFormat"]


@dataclass(frozen=True, slots=True)
class Subscriptions:
    """What one namespace of one node listens to."""

    channels: tuple[str, ...] = ()
    """Plain SUBSCRIBE (or SSUBSCRIBE when ``sharded``)."""
    patterns: tuple[str, ...] = ()
    """PSUBSCRIBE patterns (classic only)."""
    sharded: bool = False
    streams: tuple[str, ...] = ()
    """Stream keys to XREAD (streams format only)."""


class WireFormat(Protocol):
    """One Redis wire format; made once per cluster with its key prefix and options."""

    @property
    def name(self) -> str:
        """``"classic"``, ``"sharded"`` or ``"streams"``."""
        ...

    def subscriptions(self, nsp: str, uid: str) -> Subscriptions:
        """What a node with ``uid`` subscribes to for namespace ``nsp`` (exactly one counted
        subscription on the count channel)."""
        ...

    def room_channel(self, nsp: str, room: Room) -> str | None:
        """A channel to (un)subscribe as local room ``room`` appears and goes (sharded
        dynamic modes), or None when the format has none."""
        ...

    def count_channel(self, nsp: str) -> tuple[str, str]:
        """How servers are counted: (``"NUMSUB"`` or ``"SHARDNUMSUB"``, channel)."""
        ...

    def encode(self, message: ClusterMessage, reply_to: str | None = None) -> list[Outgoing]:
        """What to put on Redis for ``message``. ``reply_to``: the requester's uid, for a
        response (formats with private response channels need it)."""
        ...

    def decode(self, channel: str, payload: bytes) -> ClusterMessage | None:
        """The message a publish carries; None for one that is not for a node to act on
        (e.g. a room channel of a room with no local member is still decoded: the adapter
        filters). Raises ``WireError`` for what is malformed or foreign."""
        ...

    def decode_entry(self, stream: str, fields: dict[bytes, bytes]) -> ClusterMessage | None:
        """A stream entry's message (streams format); None to skip it."""
        ...
