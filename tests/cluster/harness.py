"""Cluster nodes the tests can drive alike: Node socket.io 4.8 servers with the official
Redis adapters (``node/server.mjs``, a subprocess) and tidings servers in this loop.

Both run the same small app and offer the same operations, so a scenario is written once
and started from every node. Results come back normalised (sorted lists, plain dicts).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

import tidings
import tidings.standalone
from tests.e2e.harness import DEFAULT_TIMEOUT, Mailbox, from_wire, to_wire

HERE = Path(__file__).resolve().parent
SERVER_SCRIPT = HERE / "node" / "server.mjs"
EMITTER_SCRIPT = HERE / "node" / "emitter.mjs"

#: The three wire formats of a cluster (one per cluster), as both sides name them.
FORMATS = ("classic", "sharded", "streams")


class ClusterAckTimeout(Exception):
    """A cluster operation with acks timed out; ``partial`` holds what did come."""

    def __init__(self, message: str, partial: list[Any]) -> None:
        super().__init__(message)
        self.partial = partial


def describe_socket(sid: str, handshake: Any, rooms: Iterable[str], data: Any) -> dict[str, Any]:
    """One fetched socket, the same whichever node and whichever adapter reported it."""
    if dataclasses.is_dataclass(handshake) and not isinstance(handshake, type):
        handshake = dataclasses.asdict(handshake)
    elif not isinstance(handshake, dict):
        handshake = {k: getattr(handshake, k, None) for k in ("auth", "query", "headers")}
    return {
        "id": sid,
        "rooms": sorted(str(r) for r in rooms),
        "data": dict(data or {}),
        "auth": handshake.get("auth"),
        "query_eio": (handshake.get("query") or {}).get("EIO"),
    }


class ClusterNode:
    """What every node of a test cluster offers (Node or tidings)."""

    name: str
    kind: str
    url: str
    events: Mailbox  # connection, disconnect, client_event, server_event records

    async def emit(
        self,
        event: str,
        *args: Any,
        rooms: Iterable[str] = (),
        except_: Iterable[str] = (),
        volatile: bool = False,
        local: bool = False,
    ) -> None:
        raise NotImplementedError

    async def emit_with_ack(
        self, event: str, *args: Any, rooms: Iterable[str] = (), except_: Iterable[str] = (),
        timeout: float = 2.0,
    ) -> list[Any]:
        raise NotImplementedError

    async def fetch_sockets(
        self, rooms: Iterable[str] = (), except_: Iterable[str] = ()
    ) -> list[dict[str, Any]]:
        """Sorted by id; keeps the handles for the ``remote_*`` operations."""
        raise NotImplementedError

    async def remote_emit(self, sid: str, event: str, *args: Any) -> None:
        raise NotImplementedError

    async def remote_emit_with_ack(self, sid: str, event: str, *args: Any, timeout: float) -> Any:
        raise NotImplementedError

    async def remote_join(self, sid: str, room: str) -> None:
        raise NotImplementedError

    async def remote_leave(self, sid: str, room: str) -> None:
        raise NotImplementedError

    async def remote_disconnect(self, sid: str, close: bool = False) -> None:
        raise NotImplementedError

    async def sockets_join(
        self, room: str, rooms: Iterable[str] = (), except_: Iterable[str] = ()
    ) -> None:
        raise NotImplementedError

    async def sockets_leave(
        self, room: str, rooms: Iterable[str] = (), except_: Iterable[str] = ()
    ) -> None:
        raise NotImplementedError

    async def disconnect_sockets(
        self, close: bool = False, rooms: Iterable[str] = (), except_: Iterable[str] = ()
    ) -> None:
        raise NotImplementedError

    async def server_side_emit(self, event: str, *args: Any) -> None:
        raise NotImplementedError

    async def server_side_emit_with_ack(
        self, event: str, *args: Any, timeout: float = 2.0
    ) -> list[Any]:
        raise NotImplementedError

    async def server_count(self) -> int:
        raise NotImplementedError

    async def all_rooms(self) -> list[str]:
        raise NotImplementedError

    async def stop(self) -> None:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{self.kind} node {self.name} at {self.url}>"


class NodeServer(ClusterNode):
    """``node/server.mjs``: socket.io 4.8 with the official adapter, driven over stdin/stdout."""

    kind = "node"

    def __init__(self, name: str, proc: asyncio.subprocess.Process) -> None:
        self.name = name
        self.proc = proc
        self.url = ""
        self.events = Mailbox(f"node server {name}")
        self._replies = Mailbox(f"node server {name} (replies)")
        self._refs = 0
        self._stderr = b""
        self._err_reader = asyncio.create_task(self._read_stderr())
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def start(
        cls, node_bin: str, name: str, fmt: str, prefix: str, redis_url: str, port: int = 0
    ) -> NodeServer:
        proc = await asyncio.create_subprocess_exec(
            node_bin,
            str(SERVER_SCRIPT),
            name,
            fmt,
            prefix,
            redis_url,
            str(port),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=HERE,
            env={**os.environ, "NODE_NO_WARNINGS": "1"},
        )
        server = cls(name, proc)
        try:
            ready = await server._replies.get("ready", 10.0)
        except BaseException:
            await server.stop()
            raise
        server.url = f"http://127.0.0.1:{ready['port']}"
        return server

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            record = from_wire(json.loads(line))
            kind = record.pop("ev")
            if kind in ("done", "fail"):
                self._replies.put("reply", ok=kind == "done", **record)
            elif kind == "ready":
                self._replies.put(kind, **record)
            else:
                self.events.put(kind, **record)
        await self.proc.wait()
        await self._err_reader
        reason = f"exited with {self.proc.returncode}: {self._stderr.decode(errors='replace')}"
        self._replies.close(reason)
        self.events.close(reason)

    async def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        self._stderr = await self.proc.stderr.read()

    async def command(self, op: str, wait: float = DEFAULT_TIMEOUT, **fields: Any) -> Any:
        """Run one operation on this node; returns its result, raises what it raised."""
        self._refs += 1
        ref = self._refs
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps({"op": op, "ref": ref, **to_wire(fields)}) + "\n").encode())
        await self.proc.stdin.drain()

        record = await self._replies.get("reply", wait, ref=ref)
        if not record["ok"]:
            if record.get("partial") is not None:
                raise ClusterAckTimeout(record["message"], list(record["partial"]))
            raise RuntimeError(f"{self.name}: {op} failed: {record['message']}")
        return record["result"]

    async def emit(
        self,
        event: str,
        *args: Any,
        rooms: Iterable[str] = (),
        except_: Iterable[str] = (),
        volatile: bool = False,
        local: bool = False,
    ) -> None:
        await self.command(
            "emit", event=event, args=list(args), rooms=list(rooms), **{"except": list(except_)},
            volatile=volatile, local=local,
        )

    async def emit_with_ack(
        self, event: str, *args: Any, rooms: Iterable[str] = (), except_: Iterable[str] = (),
        timeout: float = 2.0,
    ) -> list[Any]:
        return list(
            await self.command(
                "emitWithAck", DEFAULT_TIMEOUT + timeout, event=event, args=list(args),
                rooms=list(rooms), timeout=int(timeout * 1000), **{"except": list(except_)},
            )
        )

    async def fetch_sockets(
        self, rooms: Iterable[str] = (), except_: Iterable[str] = ()
    ) -> list[dict[str, Any]]:
        found = await self.command("fetchSockets", rooms=list(rooms), **{"except": list(except_)})
        return [describe_socket(s["id"], s["handshake"], s["rooms"], s["data"]) for s in found]

    async def remote_emit(self, sid: str, event: str, *args: Any) -> None:
        await self.command("remote", id=sid, action="emit", event=event, args=list(args))

    async def remote_emit_with_ack(self, sid: str, event: str, *args: Any, timeout: float) -> Any:
        return await self.command(
            "remote", DEFAULT_TIMEOUT + timeout, id=sid, action="emitWithAck", event=event,
            args=list(args), timeout=int(timeout * 1000),
        )

    async def remote_join(self, sid: str, room: str) -> None:
        await self.command("remote", id=sid, action="join", room=room)

    async def remote_leave(self, sid: str, room: str) -> None:
        await self.command("remote", id=sid, action="leave", room=room)

    async def remote_disconnect(self, sid: str, close: bool = False) -> None:
        await self.command("remote", id=sid, action="disconnect", close=close)

    async def sockets_join(
        self, room: str, rooms: Iterable[str] = (), except_: Iterable[str] = ()
    ) -> None:
        await self.command("socketsJoin", room=room, rooms=list(rooms), **{"except": list(except_)})

    async def sockets_leave(
        self, room: str, rooms: Iterable[str] = (), except_: Iterable[str] = ()
    ) -> None:
        await self.command("socketsLeave", room=room, rooms=list(rooms), **{"except": list(except_)})

    async def disconnect_sockets(
        self, close: bool = False, rooms: Iterable[str] = (), except_: Iterable[str] = ()
    ) -> None:
        await self.command(
            "disconnectSockets", close=close, rooms=list(rooms), **{"except": list(except_)}
        )

    async def server_side_emit(self, event: str, *args: Any) -> None:
        await self.command("serverSideEmit", event=event, args=list(args))

    async def server_side_emit_with_ack(
        self, event: str, *args: Any, timeout: float = 2.0
    ) -> list[Any]:
        return list(
            await self.command(
                "serverSideEmitWithAck", DEFAULT_TIMEOUT + timeout, event=event, args=list(args),
                timeout=int(timeout * 1000),
            )
        )

    async def server_count(self) -> int:
        return int(await self.command("serverCount"))

    async def all_rooms(self) -> list[str]:
        return list(await self.command("allRooms"))

    async def stop(self) -> None:
        """Close its stdin (it exits at once); kill it by its PID if it does not."""
        if self.proc.returncode is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                await asyncio.wait_for(self.proc.wait(), 3)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader


def tidings_adapter_factory(redis_url: str, fmt: str, prefix: str) -> Any:
    """The public adapter API, with this test's private key prefix (and stream name)."""
    # Imported when a tidings node starts: the Node-only tests need nothing of it.
    from tidings.adapters.redis import RedisAdapter

    if fmt == "streams":
        return RedisAdapter(redis_url, format="streams", key_prefix=prefix, stream_name=prefix)
    if fmt.startswith("sharded"):
        mode = "dynamic" if fmt == "sharded" else fmt.removeprefix("sharded-")
        return RedisAdapter(redis_url, format="sharded", key_prefix=prefix, subscription_mode=mode)
    return RedisAdapter(redis_url, format="classic", key_prefix=prefix)


class TidingsNode(ClusterNode):
    """A ``tidings.Server`` with the Redis adapter, served in this loop, running the app of
    ``node/server.mjs``."""

    kind = "tidings"

    def __init__(self, name: str, sio: tidings.Server) -> None:
        self.name = name
        self.sio = sio
        self.url = ""
        self.events = Mailbox(f"tidings node {name}")
        self._fetched: dict[str, Any] = {}
        self._stack = contextlib.AsyncExitStack()
        self._install_app()

    @classmethod
    async def start(cls, name: str, fmt: str, prefix: str, redis_url: str) -> TidingsNode:
        node = cls(name, tidings.Server(adapter_factory=tidings_adapter_factory(redis_url, fmt, prefix)))
        try:
            srv = await node._stack.enter_async_context(
                tidings.standalone.serve(node.sio, "127.0.0.1", 0)
            )
        except BaseException:
            await node._stack.aclose()
            raise
        node.url = f"http://127.0.0.1:{srv.port}"
        return node

    def _install_app(self) -> None:
        sio, events, name = self.sio, self.events, self.name

        @sio.on("connect")
        def connect(socket: Any, auth: Any) -> None:
            if isinstance(auth, dict) and "client" in auth:
                socket.data["client"] = auth["client"]
            events.put("connection", sid=socket.id)

        @sio.on("disconnect")
        def disconnect(socket: Any, reason: str) -> None:
            events.put("disconnect", sid=socket.id, reason=reason)

        @sio.on("join")
        def join(socket: Any, room: str) -> str:
            socket.join(room)
            return "joined"

        @sio.on("echo")
        def echo(socket: Any, *args: Any) -> tuple[Any, ...]:
            return args

        @sio.on_any
        def any_event(socket: Any, event: str, args: list[Any]) -> None:
            events.put("client_event", sid=socket.id, event=event, args=list(args))

        @sio.on_server_event("ss-note")
        def note(*args: Any) -> None:
            events.put("server_event", event="ss-note", args=list(args), wants_ack=None)

        @sio.on_server_event("ss-ask")
        def ask(*args: Any) -> dict[str, Any]:
            events.put("server_event", event="ss-ask", args=list(args), wants_ack=None)
            return {"node": name, "args": list(args)}

    def _operator(self, rooms: Iterable[str], except_: Iterable[str]) -> Any:
        op = self.sio.of("/").operator()
        rooms, except_ = list(rooms), list(except_)
        if rooms:
            op = op.to(rooms)
        if except_:
            op = op.except_(except_)
        return op

    async def emit(
        self,
        event: str,
        *args: Any,
        rooms: Iterable[str] = (),
        except_: Iterable[str] = (),
        volatile: bool = False,
        local: bool = False,
    ) -> None:
        op = self._operator(rooms, except_)
        if volatile:
            op = op.volatile
        if local:
            op = op.local
        await op.emit(event, *args)

    async def emit_with_ack(
        self, event: str, *args: Any, rooms: Iterable[str] = (), except_: Iterable[str] = (),
        timeout: float = 2.0,
    ) -> list[Any]:
        try:
            return list(await self._operator(rooms, except_).timeout(timeout).emit_with_ack(event, *args))
        except tidings.errors.AckTimeoutError as exc:
            raise ClusterAckTimeout(str(exc), list(exc.responses)) from None

    async def fetch_sockets(
        self, rooms: Iterable[str] = (), except_: Iterable[str] = ()
    ) -> list[dict[str, Any]]:
        handles = await self._operator(rooms, except_).fetch_sockets()
        self._fetched = {str(h.id): h for h in handles}
        found = [
            describe_socket(str(h.id), getattr(h, "handshake", None), h.rooms, h.data)
            for h in handles
        ]
        return sorted(found, key=lambda s: s["id"])

    def _handle(self, sid: str) -> Any:
        handle = self._fetched.get(sid)
        if handle is None:
            raise RuntimeError(f"{self.name}: no fetched socket {sid}")
        return handle

    async def remote_emit(self, sid: str, event: str, *args: Any) -> None:
        await self._handle(sid).emit(event, *args)

    async def remote_emit_with_ack(self, sid: str, event: str, *args: Any, timeout: float) -> Any:
        try:
            return await self._handle(sid).emit_with_ack(event, *args, timeout=timeout)
        except tidings.errors.AckTimeoutError as exc:
            raise ClusterAckTimeout(str(exc), list(exc.responses)) from None

    async def remote_join(self, sid: str, room: str) -> None:
        await _maybe_await(self._handle(sid).join(room))

    async def remote_leave(self, sid: str, room: str) -> None:
        await _maybe_await(self._handle(sid).leave(room))

    async def remote_disconnect(self, sid: str, close: bool = False) -> None:
        await self._handle(sid).disconnect(close)

    async def sockets_join(
        self, room: str, rooms: Iterable[str] = (), except_: Iterable[str] = ()
    ) -> None:
        await self._operator(rooms, except_).sockets_join(room)

    async def sockets_leave(
        self, room: str, rooms: Iterable[str] = (), except_: Iterable[str] = ()
    ) -> None:
        await self._operator(rooms, except_).sockets_leave(room)

    async def disconnect_sockets(
        self, close: bool = False, rooms: Iterable[str] = (), except_: Iterable[str] = ()
    ) -> None:
        await self._operator(rooms, except_).disconnect_sockets(close)

    async def server_side_emit(self, event: str, *args: Any) -> None:
        await self.sio.server_side_emit(event, *args)

    async def server_side_emit_with_ack(
        self, event: str, *args: Any, timeout: float = 2.0
    ) -> list[Any]:
        try:
            return list(await self.sio.server_side_emit_with_ack(event, *args, timeout=timeout))
        except tidings.errors.AckTimeoutError as exc:
            raise ClusterAckTimeout(str(exc), list(exc.responses)) from None

    async def server_count(self) -> int:
        return await self.sio.server_count()

    async def all_rooms(self) -> list[str]:
        rooms = await self.sio.of("/").adapter.all_rooms()  # type: ignore[attr-defined]
        return sorted(str(r) for r in rooms)

    async def stop(self) -> None:
        await self._stack.aclose()


async def _maybe_await(result: Any) -> None:
    """``join``/``leave`` are plain calls on a local socket and may be coroutines on a
    remote handle: either works here."""
    if isinstance(result, Awaitable):
        await result


async def until(
    check: Callable[[], Awaitable[bool]], what: str, timeout: float = DEFAULT_TIMEOUT
) -> None:
    """Wait until ``check()`` holds: for state spread over nodes that no event announces
    (a remote join applied, a cluster formed). Polls; fails with ``what`` on timeout."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        if loop.time() > deadline:
            raise AssertionError(f"not in {timeout}s: {what}")
        await asyncio.sleep(0.05)
