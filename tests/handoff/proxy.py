"""A round-robin HTTP balancer for the tests, as nginx is configured in front of a cluster.

Each request goes to the next backend on a new upstream connection (no upstream
keep-alive; one that refuses connections is passed over), and never to the backend the previous request of the same session
(its ``sid``) went to, so every request of a session lands on another process
than the last. An upgrade request is piped both ways once answered. ``log``
records (sid, backend index, method) for each request.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

from tidings.standalone.http_server import stop_accepting


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


def _headers(head: bytes) -> tuple[str, dict[str, str]]:
    first, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    return first, headers


class RoundRobinProxy:
    def __init__(self, backends: list[tuple[str, int]]) -> None:
        self.backends = backends
        self.log: list[tuple[str | None, int, str]] = []
        self._turn = itertools.cycle(range(len(backends)))
        self._last: dict[str, int] = {}
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0

    def pick(self, sid: str | None) -> int:
        index = next(self._turn)
        if sid is not None and self._last.get(sid) == index and len(self.backends) > 1:
            index = next(self._turn)
        if sid is not None:
            self._last[sid] = index
        return index

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        assert self._server is not None
        # Stop accepting first, as the built-in server does, and let connections accepted
        # already reach ``_client``.
        stop_accepting(asyncio.get_running_loop(), self._server)
        for _ in range(5):  # the accept, connection_made, then _client's first step
            await asyncio.sleep(0)
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            while await self._one(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        except asyncio.CancelledError:
            pass  # closing: asyncio's stream callback must not see a cancelled task
        finally:
            self._tasks.discard(task)
            with contextlib.suppress(Exception):
                writer.close()

    async def _one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Carry one request; False when the client connection is done."""
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return False
        first, headers = _headers(head)
        method, target, _ = first.split(" ", 2)
        assert "chunked" not in headers.get("transfer-encoding", ""), "no chunked bodies here"
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        sid = parse_qs(urlsplit(target).query).get("sid", [None])[0]
        for _ in self.backends:  # a backend that refuses is passed over, as nginx does
            index = self.pick(sid)
            try:
                up_reader, up_writer = await asyncio.open_connection(*self.backends[index])
                break
            except ConnectionRefusedError:
                continue
        else:
            raise ConnectionRefusedError("no backend answers")
        self.log.append((sid, index, method))
        up_writer.write(head + body)
        if headers.get("upgrade", "").lower() == "websocket":
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
            return False
        try:
            response = await up_reader.readuntil(b"\r\n\r\n")
            _status_line, response_headers = _headers(response)
            length = int(response_headers.get("content-length", "0"))
            payload = await up_reader.readexactly(length)
        finally:
            up_writer.close()
        writer.write(response + payload)
        await writer.drain()
        closing = "close" in (headers.get("connection", "") + response_headers.get("connection", ""))
        return not closing


@contextlib.asynccontextmanager
async def balancing(backends: list[tuple[str, int]]) -> AsyncIterator[RoundRobinProxy]:
    proxy = RoundRobinProxy(backends)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.close()
