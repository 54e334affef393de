"""Redis clusters of tidings and Node socket.io servers, in the official adapters' wire formats.

``RedisAdapter(...)`` is a server's ``adapter_factory``; see docs/cluster.md.
"""

try:
    import msgpack  # type: ignore[import-untyped]  # noqa: F401
    import redis  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise ImportError(
        "Redis clusters need redis-py and msgpack: pip install 'tidings[redis]'"
    ) from exc

from tidings.adapters.redis.adapter import ClusterAdapter
from tidings.adapters.redis.factory import RedisAdapter
from tidings.adapters.redis.remote import RemoteSocket

__all__ = ["ClusterAdapter", "RedisAdapter", "RemoteSocket"]
