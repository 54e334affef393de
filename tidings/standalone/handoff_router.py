"""Where a session's owner is, and the unix socket this process is reached at.

``HandoffRouter`` is the running side of ``HandoffOptions`` for one server:
it listens on this process's unix socket (``socket_dir``), publishes this
node's address to the peer directory, and tells a connection for another
owner where to go. Addresses read from the directory are kept a short while,
so a node asks it once per owner and not once per request; one that fails is
forgotten at once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable

from tidings.standalone.fd_passing import FdReceiver
from tidings.standalone.handoff import HandoffOptions

logger = logging.getLogger("tidings.standalone")

__all__ = ["HandoffRouter"]

#: Seconds an owner's address read from the peer directory is used without asking again.
ADDRESS_CACHE_SECONDS = 2.0
#: Seconds the peer directory has, at shutdown, to withdraw this node's address.
PEERS_CLOSE_TIMEOUT = 5.0
_WILDCARDS = frozenset(("", "0.0.0.0", "::"))
_MAX_UNIX_PATH = 107


class HandoffRouter:
    """Built by ``HttpServer`` when it has ``HandoffOptions``; read by its connections."""

    __slots__ = (
        "_addresses",
        "_published",
        "_receiver",
        "loop",
        "options",
        "owner",
        "owner_bytes",
    )

    def __init__(self, options: HandoffOptions, loop: asyncio.AbstractEventLoop) -> None:
        self.options = options
        self.loop = loop
        self.owner = options.owner
        #: The tag as it appears in a request target.
        self.owner_bytes = options.owner.encode("ascii")
        self._receiver: FdReceiver | None = None
        self._addresses: dict[str, tuple[tuple[str, int], float]] = {}
        self._published = False

    async def start(
        self, host: str, port: int, adopt: Callable[[socket.socket, bytes], None]
    ) -> None:
        """Listen for passed connections (``adopt`` takes them) and publish our address."""
        options = self.options
        if options.socket_dir is not None:
            # Made private if it is not there yet (the sockets accept connections).
            os.makedirs(options.socket_dir, mode=0o700, exist_ok=True)
            receiver = FdReceiver(self.loop, self.socket_path(self.owner), adopt)
            receiver.start()
            self._receiver = receiver
        if options.peers is not None:
            address = options.advertise
            if address is None:
                if host in _WILDCARDS:
                    raise ValueError(
                        f"listening on {host!r}: HandoffOptions.advertise must say where other"
                        " nodes reach this one"
                    )
                address = (host, port)
            await options.peers.publish(self.owner, address[0], address[1])
            self._published = True

    async def close(self) -> None:
        """Stop taking connections and withdraw our address (the directory is closed)."""
        if self._receiver is not None:
            self._receiver.close()
            self._receiver = None
        peers = self.options.peers
        if peers is not None:
            try:
                # Bounded: a directory that does not answer must not hold the shutdown.
                await asyncio.wait_for(peers.close(), PEERS_CLOSE_TIMEOUT)
            except Exception as exc:
                logger.warning("closing the peer directory failed: %r", exc)

    def socket_path(self, owner: str) -> str:
        """``{socket_dir}/{owner}.sock``."""
        directory = self.options.socket_dir
        assert directory is not None
        path = os.path.join(directory, f"{owner}.sock")
        if len(os.fsencode(path)) > _MAX_UNIX_PATH:
            raise ValueError(f"unix socket path too long ({path!r}): use a shorter socket_dir")
        return path

    def local_path(self, owner: str) -> str | None:
        """The unix socket of ``owner`` on this machine, if there is one."""
        if self.options.socket_dir is None:
            return None
        path = self.socket_path(owner)
        return path if os.path.exists(path) else None

    def may_reach(self, owner: str) -> bool:
        """Whether ``owner`` could be reached at all (a socket file, or a directory to ask)."""
        return self.options.peers is not None or self.local_path(owner) is not None

    async def address_of(self, owner: str) -> tuple[str, int] | None:
        """Where ``owner``'s node listens, from the peer directory (kept a short while)."""
        peers = self.options.peers
        if peers is None:
            return None
        now = self.loop.time()
        known = self._addresses.get(owner)
        if known is not None and known[1] > now:
            return known[0]
        address = await peers.address_of(owner)
        if address is None:
            self._addresses.pop(owner, None)
        else:
            self._addresses[owner] = (address, now + ADDRESS_CACHE_SECONDS)
        return address

    def forget(self, owner: str) -> None:
        """``owner``'s address did not answer: ask the directory next time."""
        self._addresses.pop(owner, None)
