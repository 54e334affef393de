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

from tests.e2e.harness import DEFAULT_TIMEOUT, Mailbox, NodeHost, from_wire, to_wire

HERE = Path(__file__).resolve().parent
SERVER_SCRIPT = HERE / "node" / "server.mjs"
#: Hosts every Node cluster node of a run (a Node start with its Redis clients costs about
#: 0.5 CPU-s).
NODE_SERVERS = NodeHost(SERVER_SCRIPT)
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
        compress: bool = True,
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


class NodeProcess:
    """A Node script of ``node/`` driven over JSON lines: commands answered by ``done`` or
    ``fail`` with the same ``ref``; every other line goes to ``events``. The lines come
    from the script's own process (``proc``) or from a session of a host of them."""

    def __init__(
        self,
        name: str,
        proc: asyncio.subprocess.Process | None,
        session: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None,
    ) -> None:
        self.name = name
        self.proc = proc
        if proc is not None:
            assert proc.stdout is not None and proc.stdin is not None
            self._lines, self._writer = proc.stdout, proc.stdin
        else:
            assert session is not None
            self._lines, self._writer = session
        self.events = Mailbox(f"{name} (node)")
        self._replies = Mailbox(f"{name} (node, replies)")
        self._refs = 0
        self._stderr = b""
        self._err_reader = asyncio.create_task(self._read_stderr())
        self._reader = asyncio.create_task(self._read())

    @staticmethod
    async def spawn(node_bin: str, script: Path, *args: str) -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            node_bin,
            str(script),
            *args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=HERE,
            env={**os.environ, "NODE_NO_WARNINGS": "1"},
        )

    async def ready(self, timeout: float = 10.0) -> dict[str, Any]:
        """The script's ``ready`` line; stops the process if it never comes."""
        try:
            return await self._replies.get("ready", timeout)
        except BaseException:
            await self.stop()
            raise

    async def _read(self) -> None:
        with contextlib.suppress(ConnectionError):  # a session's end may come as a reset
            await self._read_lines()
        if self.proc is None:
            errors = [r.get("message") for r in self.events.all("error")]
            reason = f"{NODE_SERVERS.ended()} (errors it reported: {errors})"
        else:
            await self.proc.wait()
            await self._err_reader
            reason = f"exited with {self.proc.returncode}: {self._stderr.decode(errors='replace')}"
        self._replies.close(reason)
        self.events.close(reason)

    async def _read_lines(self) -> None:
        while line := await self._lines.readline():
            record = from_wire(json.loads(line))
            kind = record.pop("ev")
            if kind in ("done", "fail"):
                self._replies.put("reply", ok=kind == "done", **record)
            elif kind == "ready":
                self._replies.put(kind, **record)
            else:
                self.events.put(kind, **record)

    async def _read_stderr(self) -> None:
        if self.proc is not None:
            assert self.proc.stderr is not None
            self._stderr = await self.proc.stderr.read()

    async def command(self, op: str, wait: float = DEFAULT_TIMEOUT, **fields: Any) -> Any:
        """Run one operation; returns its result, raises what it raised."""
        self._refs += 1
        ref = self._refs
        self._writer.write((json.dumps({"op": op, "ref": ref, **to_wire(fields)}) + "\n").encode())
        await self._writer.drain()
        record = await self._replies.get("reply", wait, ref=ref)
        if not record["ok"]:
            if record.get("partial") is not None:
                raise ClusterAckTimeout(record["message"], list(record["partial"]))
            raise RuntimeError(f"{self.name}: {op} failed: {record['message']}")
        return record["result"]

    async def stop(self) -> None:
        """A process: close its stdin (it exits at once), kill it by its PID if it does not.
        A session: "exit", answered once the node and its Redis clients are closed."""
        if self.proc is None:
            if not self._reader.done():
                with contextlib.suppress(ConnectionError, RuntimeError, AssertionError):
                    await self.command("exit")
            self._writer.close()
        elif self.proc.returncode is None:
            self._writer.close()
            try:
                await asyncio.wait_for(self.proc.wait(), 3)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader


class NodeServer(NodeProcess, ClusterNode):
    """``node/server.mjs``: socket.io 4.8 with the official adapter."""

    kind = "node"

    @classmethod
    async def start(
        cls, node_bin: str, name: str, fmt: str, prefix: str, redis_url: str, port: int = 0
    ) -> NodeServer:
        reader, writer = await NODE_SERVERS.connect(node_bin)
        writer.write((json.dumps([name, fmt, prefix, redis_url, str(port)]) + "\n").encode())
        server = cls(name, None, (reader, writer))
        server.url = f"http://127.0.0.1:{(await server.ready())['port']}"
        return server

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
        await self.command(
            "emit", event=event, args=list(args), rooms=list(rooms), **{"except": list(except_)},
            volatile=volatile, local=local, compress=compress,
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
