"""A tidings cluster node: ``tidings.Server`` with the Redis adapter, in the test's loop,
running the app of ``node/server.mjs``."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Iterable
from typing import Any

import tidings
import tidings.standalone
from tests.e2e.harness import Mailbox

from .harness import ClusterAckTimeout, ClusterNode, describe_socket


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
        compress: bool = True,
    ) -> None:
        op = self._operator(rooms, except_)
        if volatile:
            op = op.volatile
        if local:
            op = op.local
        if not compress:
            op = op.compress(False)
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


