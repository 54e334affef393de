"""One node of the chat cluster: ``python examples/cluster/node.py --node node1 --port 8101``.

Every node of a cluster gets the same ``--cluster`` name (its Redis key prefix
and PostgreSQL schema), the same Redis and PostgreSQL, and a ``--node`` tag and
port of its own. ``run`` in this folder starts three of them behind nginx.
"""

from __future__ import annotations

import argparse
import logging

from tidings.demo import ClusterOptions, run_node
from tidings.demo.cluster import DEFAULT_NAME, DEFAULT_POSTGRES, DEFAULT_REDIS


def main() -> None:
    parser = argparse.ArgumentParser(description="One node of the tidings chat cluster.")
    parser.add_argument("--node", required=True, help="this node's tag, e.g. node1")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--redis", default=DEFAULT_REDIS, help="Redis URL (default: %(default)s)")
    parser.add_argument(
        "--postgres", default=DEFAULT_POSTGRES, help="PostgreSQL DSN (default: %(default)s)"
    )
    parser.add_argument(
        "--cluster", default=DEFAULT_NAME,
        help="the cluster's Redis key prefix and PostgreSQL schema (default: %(default)s)",
    )
    parser.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"]
    )
    args = parser.parse_args()
    logging.basicConfig(
        level=args.log_level.upper(),
        format=f"%(asctime)s {args.node} %(levelname)s %(name)s: %(message)s",
    )
    options = ClusterOptions(
        node=args.node, redis_url=args.redis, postgres_dsn=args.postgres, name=args.cluster
    )
    run_node(options, args.host, args.port)


if __name__ == "__main__":
    main()
