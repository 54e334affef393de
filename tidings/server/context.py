"""What the server's parts (namespaces, sockets, connections) need of the server.

They are handed this view, not the ``Server`` class, so the package depends one way:
server -> connection -> socket -> namespace -> operators -> context.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from tidings.adapters.base import Adapter, LocalNamespace
    from tidings.protocol.socketio import PacketDecoder, Parser
    from tidings.serializers import Serializer
    from tidings.server.journal import Journal
    from tidings.server.options import ServerOptions

__all__ = ["ServerContext"]


class ServerContext(Protocol):
    """Implemented by ``tidings.Server``; read by namespaces, sockets and connections."""

    @property
    def options(self) -> ServerOptions: ...

    @property
    def serializer(self) -> Serializer: ...

    @property
    def parser(self) -> Parser:
        """The packet codec of every connection (``Server(parser=)``)."""
        ...

    @property
    def journal(self) -> Journal | None:
        """The history store in use, or None without ``history=``."""
        ...

    @property
    def decoder(self) -> PacketDecoder:
        """The decoder every connection's text packets go through (they leave no state)."""
        ...

    @property
    def adapter_factory(self) -> Callable[[LocalNamespace], Adapter]: ...

    def spawn(self, coro: Coroutine[Any, Any, Any], *, discard: bool = True) -> asyncio.Task[Any]:
        """Run ``coro`` as a task that shutdown waits for (see ``Server.spawn``)."""
        ...

    def adapter_made(self, adapter: Adapter) -> None:
        """A namespace got its adapter: a running server opens it (joins the cluster)."""
        ...

    def task_done(self, task: asyncio.Task[Any] | None) -> None:
        """A task spawned with ``discard=False`` is over: forget it."""
        ...
