"""Redis clusters of tidings and Node socket.io servers, in the official adapters' wire formats.

``RedisAdapter(...)`` is a server's ``adapter_factory``; see docs/cluster.md.
"""

from tidings.adapters.redis.adapter import ClusterAdapter
from tidings.adapters.redis.factory import RedisAdapter
from tidings.adapters.redis.remote import RemoteSocket

__all__ = ["ClusterAdapter", "RedisAdapter", "RemoteSocket"]
