"""Drive the official socket.io-client (in Node) against a tidings server in this loop.

``node/client.mjs`` takes JSON commands on stdin and prints what it sees as
JSON lines; :class:`NodeClient` wraps that, and :class:`Mailbox` lets a test
await a particular line (or a particular thing a server handler recorded)
without sleeping. Binary data crosses as ``{"$bin": base64}`` and is ``bytes``
again on this side.
"""

from __future__ import annotations

import asyncio
import atexit
import base64
import contextlib
import json
import os
import subprocess
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import tidings
import tidings.standalone

HERE = Path(__file__).resolve().parent
CLIENT_SCRIPT = HERE / "node" / "client.mjs"
RAW_WS_SCRIPT = HERE / "node" / "raw_ws.mjs"
DEFAULT_TIMEOUT = 5.0
#: The longest report line read (some carry messages of a few hundred kilobytes).
LINE_LIMIT = 8 * 1024 * 1024

#: The three ways the client may carry a session, as socket.io-client options.
MODES: dict[str, dict[str, Any]] = {
    "websocket": {"transports": ["websocket"]},
    "polling": {"transports": ["polling"]},
    "upgrade": {},  # the default: polling first, then upgraded to websocket
}


def to_wire(value: Any) -> Any:
    """Python value -> JSON for client.mjs (bytes become ``{"$bin": ...}``)."""
    if isinstance(value, bytes | bytearray | memoryview):
        return {"$bin": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, list | tuple):
        return [to_wire(v) for v in value]
    if isinstance(value, dict):
        return {k: to_wire(v) for k, v in value.items()}
    return value


def from_wire(value: Any) -> Any:
    """The inverse of :func:`to_wire`."""
    if isinstance(value, list):
        return [from_wire(v) for v in value]
    if isinstance(value, dict):
        if value.keys() == {"$bin"}:
            return base64.b64decode(value["$bin"])
        return {k: from_wire(v) for k, v in value.items()}
    return value


Match = Callable[[dict[str, Any]], bool]


class Mailbox:
    """Records, each awaited at most once, in arrival order.

    ``get(kind, **fields)`` returns the oldest record of that kind whose fields
    equal the ones given and that no earlier ``get`` took, waiting for it if
    need be. ``all(kind)`` looks without taking.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.records: list[dict[str, Any]] = []
        self._taken: set[int] = set()
        self._changed = asyncio.Event()
        self.closed_reason: str | None = None

    def put(self, kind: str, **fields: Any) -> None:
        self.records.append({"ev": kind, **fields})
        self._changed.set()

    def close(self, reason: str) -> None:
        self.closed_reason = reason
        self._changed.set()

    def _find(self, match: Match) -> dict[str, Any] | None:
        for i, record in enumerate(self.records):
            if i not in self._taken and match(record):
                self._taken.add(i)
                return record
        return None

    async def get(
        self, kind: str, timeout: float = DEFAULT_TIMEOUT, **fields: Any
    ) -> dict[str, Any]:
        def match(record: dict[str, Any]) -> bool:
            return record["ev"] == kind and all(record.get(k) == v for k, v in fields.items())

        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            found = self._find(match)
            if found is not None:
                return found
            if self.closed_reason is not None:
                raise AssertionError(
                    f"{self.name}: no {kind} {fields} before it closed ({self.closed_reason});"
                    f" saw {self.records}"
                )
            self._changed.clear()
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(
                    f"{self.name}: no {kind} {fields} in {timeout}s; saw {self.records}"
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)

    def all(self, kind: str, **fields: Any) -> list[dict[str, Any]]:
        return [
            r
            for r in self.records
            if r["ev"] == kind and all(r.get(k) == v for k, v in fields.items())
        ]


class NodeHost:
    """One ``<script> --listen`` process for the whole test run, serving each loopback
    connection as a session of its own (client.mjs: sockets and managers; the client tests'
    server.mjs: a server; the cluster tests' server.mjs: a node), so that a test pays for a connection where it paid for a Node
    start (about 0.17 CPU-s, and a run has hundreds)."""

    def __init__(self, script: Path) -> None:
        self.script = script
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.stderr = bytearray()

    def address(self, node: str) -> int:
        if self.proc is None or self.proc.poll() is not None:
            self._start(node)
        return self.port

    async def connect(
        self, node: str
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A new session."""
        return await asyncio.open_connection("127.0.0.1", self.address(node), limit=LINE_LIMIT)

    def ended(self) -> str:
        """Why a session may have ended: whether the host exited, and what it last wrote
        to stderr."""
        exited = self.proc is not None and self.proc.poll() is not None
        return (
            f"{self.script.name} ended the session{' (it exited)' if exited else ''}:"
            f" {self.stderr.decode(errors='replace')}"
        )

    def _start(self, node: str) -> None:
        proc = subprocess.Popen(
            [node, str(self.script), "--listen"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=self.script.parent,
            env={**os.environ, "NODE_NO_WARNINGS": "1"},
        )
        assert proc.stdout is not None and proc.stderr is not None
        line = proc.stdout.readline()
        if not line:
            proc.wait()
            raise RuntimeError(f"{self.script.name} --listen exited: {proc.stderr.read().decode()}")
        self.port = json.loads(line)["port"]
        self.proc = proc
        threading.Thread(target=self._keep_stderr, args=(proc.stderr,), daemon=True).start()
        threading.Thread(target=proc.stdout.read, daemon=True).start()  # never a full pipe
        atexit.register(self._stop, proc)

    def _keep_stderr(self, stream: Any) -> None:
        for line in stream:
            self.stderr += line
            del self.stderr[:-8192]

    @staticmethod
    def _stop(proc: subprocess.Popen[bytes]) -> None:
        if proc.poll() is None:
            assert proc.stdin is not None
            proc.stdin.close()  # client.mjs leaves when its stdin ends
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


_host = NodeHost(CLIENT_SCRIPT)


class NodeClient:
    """A session of client.mjs (or a process of another script of node/ that speaks the
    same JSON lines); a session may hold many sockets and managers."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        proc: asyncio.subprocess.Process | None = None,
    ) -> None:
        self.proc = proc
        self._in = reader
        self._out = writer
        self.inbox = Mailbox("node")
        self._refs = 0
        self._stderr = b""
        self._err_reader = asyncio.create_task(self._read_stderr())
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def start(cls, node: str, script: Path = CLIENT_SCRIPT, *args: str) -> NodeClient:
        """A new session of client.mjs, or a process of any other script (or with args)."""
        if script == CLIENT_SCRIPT and not args:
            return cls(*await _host.connect(node))
        proc = await asyncio.create_subprocess_exec(
            node,
            str(script),
            *args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=HERE,
            env={**os.environ, "NODE_NO_WARNINGS": "1"},
            limit=LINE_LIMIT,
        )
        assert proc.stdout is not None and proc.stdin is not None
        return cls(proc.stdout, proc.stdin, proc)

    async def _read(self) -> None:
        with contextlib.suppress(ConnectionError):  # a session's end may come as a reset
            while line := await self._in.readline():
                record = from_wire(json.loads(line))
                if record["ev"] == "fail":
                    self.inbox.close(f"client.mjs failed: {record.get('message')}")
                self.inbox.records.append(record)
                self.inbox._changed.set()
        if self.proc is None:
            self.inbox.close(_host.ended())
            return
        await self.proc.wait()
        await self._err_reader
        self.inbox.close(
            f"node exited with {self.proc.returncode}: {self._stderr.decode(errors='replace')}"
        )

    async def _read_stderr(self) -> None:
        if self.proc is not None:
            assert self.proc.stderr is not None
            self._stderr = await self.proc.stderr.read()

    async def command(self, op: str, **fields: Any) -> int:
        """Send one command, wait until client.mjs has carried it out; returns its ref."""
        self._refs += 1
        ref = self._refs
        line = json.dumps({"op": op, "ref": ref, **to_wire(fields)}) + "\n"
        self._out.write(line.encode())
        await self._out.drain()
        await self.expect("done", ref=ref)
        return ref

    async def expect(
        self, kind: str, timeout: float = DEFAULT_TIMEOUT, **fields: Any
    ) -> dict[str, Any]:
        return await self.inbox.get(kind, timeout, **fields)

    def socket(
        self,
        url: str,
        nsp: str = "/",
        *,
        id: str | None = None,
        manager: str | None = None,
        opts: dict[str, Any] | None = None,
        auth: Any = None,
    ) -> ClientSocket:
        """A socket handle; nothing happens until ``await handle.connect()``."""
        self._refs += 1
        return ClientSocket(self, id or f"s{self._refs}", url, nsp, manager, opts, auth)

    async def close(self) -> None:
        if self.proc is None:
            self._out.close()  # client.mjs closes the session's sockets and managers
            with contextlib.suppress(ConnectionError):
                await self._out.wait_closed()
        elif self.proc.returncode is None:
            self._out.close()
            try:
                await asyncio.wait_for(self.proc.wait(), 2)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader


class AckError(Exception):
    """The client reported an ack error (its timeout fired)."""


class ClientSocket:
    """One socket.io-client ``Socket`` in the Node process."""

    def __init__(
        self,
        node: NodeClient,
        id: str,
        url: str,
        nsp: str,
        manager: str | None,
        opts: dict[str, Any] | None,
        auth: Any,
    ) -> None:
        self.node = node
        self.id = id
        self.url = url
        self.nsp = nsp
        self.manager = manager or id
        self.opts = opts or {}
        self.auth = auth
        self.sid = ""  # set by each connected()

    async def connect(self) -> None:
        fields: dict[str, Any] = {
            "id": self.id,
            "url": self.url,
            "nsp": self.nsp,
            "manager": self.manager,
            "opts": self.opts,
        }
        if self.auth is not None:
            fields["auth"] = self.auth
        await self.node.command("connect", **fields)

    async def connected(self, timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
        """Wait for the next ``connect`` of this socket; returns {sid, transport}."""
        record = await self.node.expect("connect", timeout, id=self.id)
        self.sid = record["sid"]
        return record

    async def connect_error(self, timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
        """Wait for a ``connect_error``; returns {message, data}."""
        return await self.node.expect("connect_error", timeout, id=self.id)

    async def disconnected(self, timeout: float = DEFAULT_TIMEOUT) -> str:
        """Wait for ``disconnect``; returns the reason."""
        record = await self.node.expect("disconnect", timeout, id=self.id)
        return str(record["reason"])

    async def event(self, name: str, timeout: float = DEFAULT_TIMEOUT) -> list[Any]:
        """Wait for the next event ``name``; returns its arguments."""
        record = await self.node.expect("event", timeout, id=self.id, event=name)
        return list(record["args"])

    def received(self, name: str) -> list[list[Any]]:
        """The arguments of every ``name`` event seen so far (without waiting)."""
        return [r["args"] for r in self.node.inbox.all("event", id=self.id, event=name)]

    async def emit(self, event: str, *args: Any, volatile: bool = False) -> None:
        await self.node.command("emit", id=self.id, event=event, args=list(args), volatile=volatile)

    async def emit_many(self, event: str, count: int) -> None:
        """Emit ``event(i)`` for i in range(count), all in one go."""
        await self.node.command("emitMany", id=self.id, event=event, count=count)

    async def call(self, event: str, *args: Any, timeout_ms: int | None = None) -> list[Any]:
        """``socket.emit(event, ...args, callback)``; returns the ack's arguments.

        With ``timeout_ms`` it is ``socket.timeout(ms).emit(...)`` and a timeout
        raises :class:`AckError`.
        """
        return await self._ack("emit", event, args, timeout_ms, ack=True)

    async def emit_with_ack(self, event: str, *args: Any, timeout_ms: int | None = None) -> Any:
        """``await socket.emitWithAck(event, ...args)``; returns the value."""
        return (await self._ack("emitWithAck", event, args, timeout_ms))[0]

    async def _ack(
        self, op: str, event: str, args: tuple[Any, ...], timeout_ms: int | None, **extra: Any
    ) -> list[Any]:
        ref = await self.node.command(
            op, id=self.id, event=event, args=list(args), timeout=timeout_ms, **extra
        )
        wait = DEFAULT_TIMEOUT + (timeout_ms or 0) / 1000
        record = await self.node.expect("ack", wait, id=self.id, ref=ref)
        if record["error"] is not None:
            raise AckError(record["error"])
        return list(record["args"])

    async def reply(self, event: str, mode: str = "echo", *args: Any, delay_ms: int = 0) -> None:
        """How this socket answers the server's ack requests for ``event`` ("*": any):
        ``echo`` its arguments, ``value`` with ``args``, or ``none`` (never)."""
        await self.node.command(
            "reply", id=self.id, event=event, mode=mode, args=list(args), delay=delay_ms
        )

    async def disconnect(self) -> None:
        await self.node.command("disconnect", id=self.id)

    async def reopen(self) -> None:
        await self.node.command("open", id=self.id)


async def http_request(
    url: str, method: str, target: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """One raw HTTP/1.1 request to ``url`` (the server's base URL); returns status, headers, body.

    For tests that must send what no client would: nothing here is lenient
    on the server's behalf, and the connection is closed after the response.
    """
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        head = [
            f"{method} {target} HTTP/1.1",
            f"Host: {host}:{port}",
            "Connection: close",
            f"Content-Length: {len(body)}",
        ]
        head += [f"{k}: {v}" for k, v in (headers or {}).items()]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(), DEFAULT_TIMEOUT)
    finally:
        writer.close()
    if not raw:
        raise AssertionError(
            f"{method} {target}: the server closed the connection without a response"
        )
    header_block, _, payload = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = header_block.decode("latin-1").split("\r\n")
    status = int(status_line.split(" ")[1])
    response_headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        response_headers[name.strip().lower()] = value.strip()
    if response_headers.get("transfer-encoding", "").lower() == "chunked":
        payload = _unchunk(payload)
    return status, response_headers, payload


def _unchunk(data: bytes) -> bytes:
    out = bytearray()
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out += data[:size]
        data = data[size + 2 :]
    return bytes(out)


@contextlib.asynccontextmanager
async def serving(
    sio: tidings.Server, port: int = 0, *, shutdown_timeout: float = 10.0
) -> AsyncIterator[str]:
    """Run ``sio`` on the built-in server at 127.0.0.1; yields its base URL. It stops
    gracefully within ``shutdown_timeout`` seconds (a polling session whose client does not
    poll again is waited for up to a second of that)."""
    async with tidings.standalone.serve(sio, "127.0.0.1", port) as srv:
        try:
            yield f"http://127.0.0.1:{srv.port}"
        finally:
            await srv.close(shutdown_timeout)
