"""One node of the test cluster, as a process: ``python -m tests.scaleout.nodeapp --node node1 ...``.

A ``tidings.Server`` on the built-in server with what a node of a real cluster has:
the Redis adapter and the peer directory under the cluster's key prefix, the
PostgreSQL history in the cluster's schema, connection state recovery, and the
hand-off options naming this node. Its handlers let the official client prove
every feature through the proxy, and say which node answered.
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

import tidings
import tidings.standalone
from tidings.adapters.redis import RedisAdapter
from tidings.history import PostgresHistory

#: The token a client must send in its auth payload.
TOKEN = "let-me-in"
#: Sessions may be recovered for this long (seconds).
RECOVERY_WINDOW = 120.0


def create_server(node: str, redis_url: str, postgres_dsn: str, prefix: str) -> tidings.Server:
    sio = tidings.Server(
        adapter_factory=RedisAdapter(redis_url, key_prefix=prefix),
        history=PostgresHistory(postgres_dsn, schema=prefix),
        connection_state_recovery=tidings.RecoveryOptions(max_disconnection_duration=RECOVERY_WINDOW),
        node_id=node,
    )
    install_handlers(sio, node)
    return sio


def install_handlers(sio: tidings.Server, node: str) -> None:
    @sio.on("connect")
    async def connect(socket: tidings.Socket, auth: Any) -> None:
        if not socket.recovered:
            if not isinstance(auth, dict) or auth.get("token") != TOKEN:
                raise tidings.ConnectionRefusedError("bad token", {"node": node})
            socket.data["user"] = auth.get("user")
        await sio.to("watchers").emit(
            "joined", {"sid": socket.id, "node": node, "recovered": socket.recovered}
        )

    @sio.on("disconnect")
    async def disconnect(socket: tidings.Socket, reason: str) -> None:
        await sio.to("watchers").emit("left", {"sid": socket.id, "node": node, "reason": reason})

    @sio.on("whoami")
    def whoami(socket: tidings.Socket) -> dict[str, Any]:
        return {
            "node": node,
            "sid": socket.id,
            "user": socket.data.get("user"),
            "recovered": socket.recovered,
            "rooms": sorted(r for r in socket.rooms if r != socket.id),
        }

    @sio.on("echo")
    def echo(socket: tidings.Socket, *args: Any) -> tuple[Any, ...]:
        return args

    @sio.on("join")
    def join(socket: tidings.Socket, room: str) -> str:
        socket.join(room)
        return node

    @sio.on("leave")
    def leave(socket: tidings.Socket, room: str) -> str:
        socket.leave(room)
        return node

    @sio.on("shout")
    async def shout(socket: tidings.Socket, room: str, *args: Any) -> str:
        """Broadcast to ``room`` from this node; the ack says it is stored."""
        await sio.to(room).emit("news", *args)
        return node

    @sio.on("ask")
    async def ask(socket: tidings.Socket, *args: Any) -> dict[str, Any]:
        """Ask the client (an ack from client to server) and return its answer."""
        answer = await socket.timeout(5).emit_with_ack("question", *args)
        return {"node": node, "answer": answer}

    @sio.on("bye")
    async def bye(socket: tidings.Socket) -> None:
        await socket.disconnect()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--node", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--redis", required=True)
    parser.add_argument("--postgres", required=True)
    parser.add_argument("--prefix", required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format=f"{args.node} %(name)s %(levelname)s %(message)s")
    sio = create_server(args.node, args.redis, args.postgres, args.prefix)
    # A request for a session another node holds is relayed to it.
    handoff = tidings.standalone.HandoffOptions(
        owner=args.node,
        peers=tidings.standalone.RedisPeerDirectory(args.redis, key_prefix=args.prefix),
    )
    tidings.standalone.run(sio, "127.0.0.1", args.port, handoff=handoff)


if __name__ == "__main__":
    main()
