"""The chat as one node of a cluster: Redis between the nodes, PostgreSQL for the history.

Every node of one cluster is started with the same ``name`` (the Redis key prefix
and the PostgreSQL schema) and a ``node`` tag of its own. Rooms and broadcasts
cross the nodes through the Redis adapter; the history and the sessions that let
a page recover live in PostgreSQL, so a page that reconnects to any node gets
what it missed; the nodes find each other in Redis to hand a request over to the
node that holds its session, so the proxy in front needs no sticky sessions.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

import tidings
from tidings.demo.chat import RETENTION, create_app
from tidings.demo.pages import static_files
from tidings.demo.rules import ChatLimits
from tidings.standalone import HandoffOptions, run

logger = logging.getLogger("tidings.demo")

DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_NAME = "tidings_demo"

_NODE = re.compile(r"[A-Za-z0-9_-]{1,24}")
_NAME = re.compile(r"[a-z_][a-z0-9_]{0,47}")


@dataclass(frozen=True, slots=True)
class ClusterOptions:
    """Where one chat node finds the rest of its cluster."""

    node: str
    """This node's tag (``node1``): in its session ids and in the history's sessions."""
    redis_url: str = DEFAULT_REDIS
    postgres_dsn: str = DEFAULT_POSTGRES
    name: str = DEFAULT_NAME
    """The cluster's Redis key prefix and PostgreSQL schema, the same on every node."""

    def __post_init__(self) -> None:
        if not _NODE.fullmatch(self.node):
            raise ValueError("node must be 1-24 characters of letters, digits, '-' and '_'")
        if not _NAME.fullmatch(self.name):
            raise ValueError("name must be a lowercase SQL identifier (letters, digits, '_')")


def create_node_app(options: ClusterOptions, *, limits: ChatLimits | None = None) -> tidings.Server:
    """The chat server of one node: the Redis adapter and the PostgreSQL history."""
    from tidings.adapters.redis import RedisAdapter
    from tidings.history import PostgresHistory

    return create_app(
        limits=limits,
        history=PostgresHistory(options.postgres_dsn, schema=options.name, retention=RETENTION),
        adapter_factory=RedisAdapter(options.redis_url, key_prefix=options.name),
        node_id=options.node,
    )


def handoff_options(options: ClusterOptions) -> HandoffOptions:
    """This node's tag, and where the others are: a request for a session another node
    holds is relayed to it, so any node can take any request."""
    from tidings.standalone import RedisPeerDirectory

    return HandoffOptions(
        owner=options.node, peers=RedisPeerDirectory(options.redis_url, key_prefix=options.name)
    )


def run_node(options: ClusterOptions, host: str = "127.0.0.1", port: int = 8080) -> None:
    """Serve one node of the chat until SIGINT or SIGTERM."""
    logger.info(
        "chat node %s of cluster %s: Redis %s, PostgreSQL schema %s",
        options.node, options.name, options.redis_url, options.name,
    )
    run(
        create_node_app(options), host=host, port=port, static_files=static_files(),
        handoff=handoff_options(options),
    )
