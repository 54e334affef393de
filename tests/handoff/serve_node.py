"""One node of the multi-process hand-off tests, served by ``tidings.standalone.run``.

    python -m tests.handoff.serve_node OWNER --socket-dir DIR | --peers PREFIX
        [--rooms PREFIX] [--plain-loop]

``--rooms``: a Redis adapter with that key prefix, so rooms span the nodes.
``--plain-loop``: asyncio's own loop, not uvloop (``run`` picks uvloop when it can
import it). The node logs "listening on http://127.0.0.1:PORT" on stderr once it serves.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from tidings.standalone import HandoffOptions, RedisPeerDirectory, run

from .app import make_app
from .nodes import REDIS_URL


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("owner")
    parser.add_argument("--socket-dir")
    parser.add_argument("--peers")
    parser.add_argument("--rooms")
    parser.add_argument("--plain-loop", action="store_true")
    args = parser.parse_args()
    if args.plain_loop:
        # Whether run() reads TIDINGS_LOOP or picks uvloop when it can import it.
        os.environ["TIDINGS_LOOP"] = "asyncio"
        sys.modules["uvloop"] = None  # type: ignore[assignment]
    logging.basicConfig(level=logging.INFO, format=f"{args.owner} %(name)s %(message)s")
    options = {}
    if args.rooms:
        from tidings.adapters.redis import RedisAdapter

        options["adapter_factory"] = RedisAdapter(REDIS_URL, key_prefix=args.rooms)
    handoff = HandoffOptions(
        owner=args.owner,
        socket_dir=args.socket_dir,
        peers=RedisPeerDirectory(REDIS_URL, args.peers) if args.peers else None,
    )
    run(make_app(args.owner, **options), "127.0.0.1", 0, handoff=handoff, shutdown_timeout=3)


if __name__ == "__main__":
    main()
