"""No sticky sessions: what the built-in server needs to hand a connection to its session's owner.

Every process is given an owner tag, and the Engine.IO session ids it makes
start with it (``tidings.engine.owner_of``). A request that reaches a process
other than its session's owner (a polling GET or POST, or a WebSocket upgrade,
spread by a round-robin balancer) is handed to the owner, the whole TCP
connection with it:

- on the same machine (``socket_dir``), the connection's file descriptor is
  passed to the owner over its unix socket ``{socket_dir}/{owner}.sock``
  (SCM_RIGHTS), with the bytes already read of it; the owner goes on with the
  connection as if it had accepted it;
- on another machine (``peers``), the connection is relayed over TCP to the
  address the owner published in the ``PeerDirectory``.

A request for an owner that is neither reachable is answered as a session
nobody knows: 400, "Session ID unknown". A handed request carries the header
``HOP_HEADER`` ("fd <tag>" or "relay <tag>"): one passed is never handed on
again, one relayed is only passed to the owner's socket on the machine it
reached, so a stale directory entry costs a hop or two, never a loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from tidings.engine.owner import check_owner

if TYPE_CHECKING:
    from tidings.standalone.redis_peers import RedisPeerDirectory

__all__ = ["HOP_HEADER", "HandoffOptions", "PeerDirectory", "RedisPeerDirectory"]

#: Added to the first request of every connection handed on ("fd <tag>" or "relay <tag>").
HOP_HEADER = "X-Tidings-Handoff"


@runtime_checkable
class PeerDirectory(Protocol):
    """Where each owner's node listens, shared by the nodes of a cluster
    (``tidings.standalone.RedisPeerDirectory``)."""

    async def address_of(self, owner: str) -> tuple[str, int] | None:
        """The (host, port) ``owner`` published, or None if none is known."""
        ...

    async def publish(self, owner: str, host: str, port: int) -> None:
        """Say that ``owner`` listens at (host, port), and keep saying it until ``close``."""
        ...

    async def close(self) -> None:
        """Withdraw what this directory published and release what it holds."""
        ...


@dataclass(frozen=True, slots=True)
class HandoffOptions:
    """Hand requests for sessions of other processes to them (``HttpServer(handoff=...)``)."""

    owner: str
    """This process's tag (1-24 of ``[A-Za-z0-9_-]``), unique among the processes that
    hand connections to one another; the engine's session ids start with it."""
    socket_dir: str | None = None
    """Same machine: each process listens on ``{socket_dir}/{owner}.sock``, and a
    connection for another owner's session is passed there with its file descriptor.
    The directory should be private to the processes (the socket accepts connections);
    one that does not exist is made, readable by this user only."""
    peers: PeerDirectory | None = None
    """Other machines: where another owner's node listens; the connection is relayed to
    it over TCP. This node publishes its own address there when it starts."""
    advertise: tuple[str, int] | None = None
    """The address other nodes reach this one at; by default the listening host and
    port (which must then not be a wildcard such as 0.0.0.0)."""
    connect_timeout: float = 3.0
    """How long reaching the owner may take (its unix socket, the peer directory, its
    node's address), each, before the request is answered 400."""

    def __post_init__(self) -> None:
        check_owner(self.owner)
        if self.socket_dir is not None and not self.socket_dir:
            raise ValueError("socket_dir must be a directory or None")
        if self.peers is not None and not isinstance(self.peers, PeerDirectory):
            raise TypeError("peers must implement PeerDirectory (address_of, publish, close)")
        if not self.connect_timeout > 0:
            raise ValueError("connect_timeout must be positive")


def __getattr__(name: str) -> Any:
    # ``RedisPeerDirectory`` lives in ``redis_peers`` (Redis is optional); found here too.
    if name == "RedisPeerDirectory":
        from tidings.standalone.redis_peers import RedisPeerDirectory

        return RedisPeerDirectory
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
