"""The two interfaces a cluster adapter is built on: the wire format and the bus.

A format (classic, sharded, streams) is a codec plus its channel names: it turns
``ClusterMessage`` values into ``Outgoing`` publishes or stream entries and reads them
back, and it says what to subscribe to and how servers are counted. Sans-I/O: the
cluster adapter does the I/O. A bus moves those bytes: ``RedisBus`` over Redis, or
``LocalBus`` over the hub of ``tidings serve --workers`` on one machine.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from tidings.adapters.redis.messages import ClusterMessage, Outgoing, Room

__all__ = ["Bus", "BusReceiver", "Subscriptions", "WireFormat"]


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


class Bus(Protocol):
    """Publish/subscribe as a cluster adapter uses it (``RedisBus``, ``LocalBus``).

    Each raises ``tidings.errors.ClusterError`` when the other side is not there; what
    comes in goes to the bus's receiver (``message_received``, ``entry_received``, and
    ``connection_lost`` when answers in flight will not come)."""

    async def send(self, outgoing: Iterable[Outgoing]) -> None:
        """Publish these (or add them to their streams), in order."""
        ...

    async def count_subscribers(self, command: str, channel: str) -> int:
        """How many subscribers ``channel`` has (``command``: ``NUMSUB`` or ``SHARDNUMSUB``)."""
        ...

    async def subscribe(
        self, channels: Iterable[str] = (), patterns: Iterable[str] = (), sharded: bool = False
    ) -> None:
        """Listen on these too; returns once the other side confirmed."""
        ...

    async def unsubscribe(
        self, channels: Iterable[str] = (), patterns: Iterable[str] = (), sharded: bool = False
    ) -> None:
        """Stop listening on these (best effort)."""
        ...

    async def read_stream(self, key: str) -> None:
        """Start reading entries added to stream ``key`` from now on."""
        ...

    async def close(self) -> None:
        """Drop the connections and stop listening."""
        ...


class BusReceiver(Protocol):
    """Who hears what a bus receives (a ``ClusterLink``: ``RedisAdapter``, ``LocalBusAdapter``)."""

    async def message_received(self, channel: str, payload: bytes) -> None: ...

    async def entry_received(self, stream: str, entry_id: str, fields: dict[bytes, bytes]) -> None: ...

    def connection_lost(self, error: BaseException) -> None:
        """The pub/sub connection broke: answers in flight will not come."""
        ...
