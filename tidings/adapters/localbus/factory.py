"""``LocalBusAdapter``: the cluster adapter of the workers of ``tidings serve --workers``.

The Redis cluster adapter as it is (``ClusterAdapter``, the classic wire format), over the
supervisor's ``BusHub`` instead of Redis: rooms, broadcasts, acks from every worker,
``fetch_sockets``, ``server_side_emit`` and ``server_count`` work across workers as
across Redis nodes, with no Redis server.
"""

from __future__ import annotations

from tidings.adapters.localbus.bus import LocalBus
from tidings.adapters.redis.classic import ClassicFormat
from tidings.adapters.redis.link import ClusterLink

__all__ = ["LocalBusAdapter"]


class LocalBusAdapter(ClusterLink):
    """Makes the adapters of a server's namespaces on the local bus at ``path`` (``adapter_factory``)."""

    def __init__(self, path: str, *, key_prefix: str = "socket.io", requests_timeout: float = 5.0) -> None:
        super().__init__(ClassicFormat(prefix=key_prefix), requests_timeout)
        self.path = path
        self.bus: LocalBus = LocalBus(path, self)

    def __repr__(self) -> str:
        return f"<LocalBusAdapter {self.path}>"
