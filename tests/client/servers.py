"""Two servers behind one test interface: the reference Node socket.io 4.8, and tidings.

Both serve ``/`` and ``/admin`` (whose middleware refuses ``auth.token == "bad"``
with data), ack ``echo`` with its own arguments, ack any other event with
``"ok"`` (but never ``noack``), and record what they see in :class:`Records` so a test can await a
particular record instead of sleeping. For the retry tests: ``ack`` is never acked
but answered with an ``ack`` event (socket.io-client's own test), ``flaky`` is acked
from its second delivery to a socket on, ``slow`` after the milliseconds it is given
(both with the socket's delivery count). Given ``tls=(certfile, keyfile)`` they
serve HTTPS: Node's https server, and tidings' ASGI app under uvicorn.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
from pathlib import Path
from typing import Any, Protocol

import uvicorn

import tidings
import tidings.standalone
from tests.e2e.harness import NodeHost, from_wire, to_wire

HERE = Path(__file__).resolve().parent
NODE_SERVER = HERE / "node" / "server.mjs"
#: Hosts every Node server of a run that needs no process of its own.
NODE_SERVERS = NodeHost(NODE_SERVER)
TIMEOUT = 10.0


class Records:
    """What a server saw, in order; ``get`` takes the oldest match not taken yet, waiting for it."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self._taken: set[int] = set()
        self._changed = asyncio.Condition()

    def put(self, kind: str, **fields: Any) -> None:
        self.items.append({"ev": kind, **fields})
        loop = asyncio.get_running_loop()
        loop.create_task(self._notify())

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    def _find(self, kind: str, fields: dict[str, Any]) -> int | None:
        for i, item in enumerate(self.items):
            if i in self._taken or item["ev"] != kind:
                continue
            if all(item.get(k) == v for k, v in fields.items()):
                return i
        return None

    async def get(self, kind: str, timeout: float = TIMEOUT, **fields: Any) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            async with self._changed:
                while (i := self._find(kind, fields)) is None:
                    await self._changed.wait()
        self._taken.add(i)
        return self.items[i]

    def all(self, kind: str, **fields: Any) -> list[dict[str, Any]]:
        return [
            item
            for item in self.items
            if item["ev"] == kind and all(item.get(k) == v for k, v in fields.items())
        ]


class ServerHarness(Protocol):
    kind: str
    port: int
    records: Records

    @property
    def url(self) -> str: ...

    async def emit(
        self, event: str, *args: Any, sid: str | None = None, nsp: str = "/"
    ) -> None: ...

    async def ask(self, sid: str, event: str, *args: Any, nsp: str = "/") -> Any: ...

    async def disconnect(self, sid: str, nsp: str = "/") -> None: ...

    async def close_connection(self, sid: str, nsp: str = "/") -> None: ...

    async def stop(self) -> None: ...

    async def start(self) -> None: ...


class NodeServer:
    """tests/client/node/server.mjs: a server of the run's host process, or with
    ``own_process`` a process of its own (which ``pause`` can stop)."""

    kind = "node"

    def __init__(
        self,
        node: str,
        tls: tuple[str, str] | None = None,
        *,
        own_process: bool = False,
        **options: Any,
    ) -> None:
        self._node = node
        self._options = options
        self._own_process = own_process
        self.scheme = "http"
        if tls is not None:
            self._options.update(cert=tls[0], key=tls[1])
            self.scheme = "https"
        self.port = 0
        self.records = Records()
        self._proc: asyncio.subprocess.Process | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._reader: asyncio.Task[None] | None = None
        self._ref = 0
        self._replies: dict[int, asyncio.Future[dict[str, Any]]] = {}

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    async def start(self) -> None:
        options = {**self._options, "port": self.port}
        if self._own_process:
            self._proc = await asyncio.create_subprocess_exec(
                self._node,
                str(NODE_SERVER),
                json.dumps(options),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                cwd=HERE,
            )
            assert self._proc.stdout is not None and self._proc.stdin is not None
            lines, self._writer = self._proc.stdout, self._proc.stdin
        else:
            lines, self._writer = await NODE_SERVERS.connect(self._node)
            self._writer.write((json.dumps(options) + "\n").encode())
        async with asyncio.timeout(TIMEOUT):
            first = json.loads(await lines.readline())
        assert first["ev"] == "listening", first
        self.port = first["port"]
        self._reader = asyncio.get_running_loop().create_task(self._read(lines))

    async def _read(self, lines: asyncio.StreamReader) -> None:
        with contextlib.suppress(ConnectionError):  # a session's end may come as a reset
            await self._read_lines(lines)

    async def _read_lines(self, lines: asyncio.StreamReader) -> None:
        while line := await lines.readline():
            record = from_wire(json.loads(line))
            kind = record.pop("ev")
            if kind in ("done", "fail", "ack") and record.get("ref") in self._replies:
                future = self._replies[record["ref"]]
                if not future.done():  # "ask" answers with its "ack" line before "done"
                    future.set_result({"ev": kind, **record})
                if kind == "done":
                    continue
            self.records.put(kind, **record)

    async def command(self, op: str, **fields: Any) -> dict[str, Any]:
        assert self._writer is not None
        self._ref += 1
        ref = self._ref
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._replies[ref] = future
        line = json.dumps(to_wire({"op": op, "ref": ref, **fields})) + "\n"
        self._writer.write(line.encode())
        await self._writer.drain()
        try:
            async with asyncio.timeout(TIMEOUT):
                reply = await future
        finally:
            del self._replies[ref]
        assert reply["ev"] != "fail", reply
        return reply

    async def emit(self, event: str, *args: Any, sid: str | None = None, nsp: str = "/") -> None:
        await self.command("emit", event=event, args=list(args), sid=sid, nsp=nsp)

    async def ask(self, sid: str, event: str, *args: Any, nsp: str = "/") -> Any:
        reply = await self.command("ask", event=event, args=list(args), sid=sid, nsp=nsp)
        assert "error" not in reply, reply
        return reply["args"][0]

    async def disconnect(self, sid: str, nsp: str = "/") -> None:
        await self.command("disconnect", sid=sid, nsp=nsp)

    async def close_connection(self, sid: str, nsp: str = "/") -> None:
        await self.command("close", sid=sid, nsp=nsp)

    def pause(self) -> None:
        """SIGSTOP: the server goes silent (no pings) without closing anything (a server
        started with ``own_process``)."""
        assert self._proc is not None, "pause() needs NodeServer(own_process=True)"
        os.kill(self._proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        assert self._proc is not None
        os.kill(self._proc.pid, signal.SIGCONT)

    async def stop(self) -> None:
        """To its clients, a crash: the process is killed, or the host cuts every connection
        of this server (and answers once its port is free)."""
        proc, self._proc = self._proc, None
        writer, self._writer = self._writer, None
        if proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGCONT)
                proc.kill()
            await proc.wait()
        elif writer is not None:
            self._ref += 1
            writer.write((json.dumps({"op": "exit", "ref": self._ref}) + "\n").encode())
            with contextlib.suppress(ConnectionError):
                await writer.drain()
        if self._reader is not None:
            async with asyncio.timeout(TIMEOUT):
                await self._reader  # the host ends the connection once the port is free
        if writer is not None and proc is None:
            writer.close()


class TidingsServer:
    """A tidings.Server on the built-in server, in this event loop."""

    kind = "tidings"

    def __init__(self, tls: tuple[str, str] | None = None, **options: Any) -> None:
        self._options = options
        self._tls = tls
        self.scheme = "http" if tls is None else "https"
        self.port = 0
        self.records = Records()
        self.sockets: dict[tuple[str, str], tidings.Socket] = {}
        self._srv: Any = None
        self._uvicorn: tuple[uvicorn.Server, asyncio.Task[None]] | None = None
        self._stopping = asyncio.Event()
        self._deliveries: dict[str, int] = {}

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def _build(self) -> tidings.Server:
        # Concurrent events, so that a never-answered "noack" holds nothing else up.
        sio = tidings.Server(concurrent_events=True, **self._options)
        records = self.records

        async def refuse_bad_token(socket: tidings.Socket) -> None:
            auth = socket.handshake.auth
            if isinstance(auth, dict) and auth.get("token") == "bad":
                raise tidings.ConnectionRefusedError("not allowed", data={"code": 403})

        sio.of("/admin").use(refuse_bad_token)
        for name in ("/", "/admin"):
            self._handlers(sio.of(name), name, records)
        return sio

    def _handlers(self, nsp: Any, name: str, records: Records) -> None:
        @nsp.on("connect")
        async def connect(socket: tidings.Socket, auth: Any) -> None:
            self.sockets[(name, socket.id)] = socket
            records.put(
                "connect",
                nsp=name,
                sid=socket.id,
                conn=socket.conn.sid,
                auth=socket.handshake.auth,
                query=dict(socket.handshake.query),
                header=socket.handshake.headers.get("x-test"),
                recovered=socket.recovered,
                transport=socket.transport,
            )

        @nsp.on("disconnect")
        async def disconnect(socket: tidings.Socket, reason: str) -> None:
            records.put("disconnect", nsp=name, sid=socket.id, reason=reason)

        @nsp.on("echo")
        async def echo(socket: tidings.Socket, *args: Any) -> tuple[Any, ...]:
            records.put("event", nsp=name, sid=socket.id, event="echo", args=list(args))
            return tuple(args)

        @nsp.on("ack")
        async def ack(socket: tidings.Socket, *args: Any, ack: tidings.Ack) -> None:
            records.put("event", nsp=name, sid=socket.id, event="ack", args=list(args))
            await socket.emit("ack")  # and never calls ack

        @nsp.on("flaky")
        def flaky(socket: tidings.Socket, *args: Any, ack: tidings.Ack) -> None:
            count = self._deliveries[socket.id] = self._deliveries.get(socket.id, 0) + 1
            records.put("event", nsp=name, sid=socket.id, event="flaky", args=list(args))
            if count > 1:
                ack(count)

        @nsp.on("slow")
        def slow(socket: tidings.Socket, delay: int, *, ack: tidings.Ack) -> None:
            count = self._deliveries[socket.id] = self._deliveries.get(socket.id, 0) + 1
            records.put("event", nsp=name, sid=socket.id, event="slow", args=[delay])
            asyncio.get_running_loop().call_later(delay / 1000, ack, count)

        @nsp.on("noack")
        async def noack(socket: tidings.Socket, *args: Any) -> None:
            records.put("event", nsp=name, sid=socket.id, event="noack", args=list(args))
            await self._stopping.wait()  # never answers (the handler ends when the server stops)

        # A plain function runs as the packet arrives (an async one is queued, and tidings
        # drops queued events when a DISCONNECT follows at once; Node runs them all).
        @nsp.on("*")
        def anything(socket: tidings.Socket, event: str, *args: Any) -> str:
            records.put("event", nsp=name, sid=socket.id, event=event, args=list(args))
            return "ok"

    async def start(self) -> None:
        if self._tls is not None:
            await self._start_uvicorn(*self._tls)
            return
        self._srv = tidings.standalone.serve(self._build(), "127.0.0.1", self.port)
        await self._srv.__aenter__()
        self.port = self._srv.port

    async def _start_uvicorn(self, certfile: str, keyfile: str) -> None:
        """The built-in server has no TLS: the ASGI app under uvicorn, in this loop."""
        sock = socket.socket()
        sock.bind(("127.0.0.1", self.port))
        sock.listen(128)  # connections wait in the backlog until uvicorn accepts them
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            tidings.ASGIApp(self._build()),
            ssl_certfile=certfile,
            ssl_keyfile=keyfile,
            log_level="warning",
            ws="websockets-sansio",
        )
        server = uvicorn.Server(config)
        task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
        self._uvicorn = (server, task)

    async def emit(self, event: str, *args: Any, sid: str | None = None, nsp: str = "/") -> None:
        if sid is None:
            await self._sio_of(nsp).emit(event, *args)
        else:
            await self.sockets[(nsp, sid)].emit(event, *args)

    def _sio_of(self, nsp: str) -> Any:
        socket = next(s for (n, _), s in self.sockets.items() if n == nsp)
        return socket.nsp

    async def ask(self, sid: str, event: str, *args: Any, nsp: str = "/") -> Any:
        return await self.sockets[(nsp, sid)].emit_with_ack(event, *args, timeout=TIMEOUT)

    async def disconnect(self, sid: str, nsp: str = "/") -> None:
        await self.sockets[(nsp, sid)].disconnect()

    async def close_connection(self, sid: str, nsp: str = "/") -> None:
        """Close the Engine.IO connection under the socket (no DISCONNECT packet), as Node's
        ``socket.conn.close()``."""
        self.sockets[(nsp, sid)].conn.close()

    async def stop(self) -> None:
        srv, self._srv = self._srv, None
        self._stopping.set()
        self._stopping = asyncio.Event()
        if self._uvicorn is not None:
            server, task = self._uvicorn
            self._uvicorn = None
            server.should_exit = True
            server.force_exit = True
            await task
        if srv is not None:
            # A crash, as far as clients know: every connection dropped at once. Sessions
            # that can no longer be told of the shutdown are not waited for long.
            srv.abort_all()
            await srv.close(timeout=0.5)
