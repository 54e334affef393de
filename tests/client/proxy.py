"""A tiny HTTP proxy for the client's ``proxy`` option: CONNECT tunnels (https, wss)
and forwarded absolute-form requests (http, ws), asking for Basic credentials if given.

After its first request (a CONNECT, a WebSocket upgrade, or one forwarded with
``Connection: close``) a client connection is piped to its target untouched.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from typing import Self
from urllib.parse import urlsplit


class Proxy:
    def __init__(self, credentials: tuple[str, str] | None = None) -> None:
        self.port = 0
        self.seen: list[str] = []  # each connection's first line, as the proxy read it
        self.refused = 0
        self._auth = None
        if credentials is not None:
            token = base64.b64encode(f"{credentials[0]}:{credentials[1]}".encode()).decode()
            self._auth = f"Basic {token}"
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.close()  # each pipe then ends, and its connection with it
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=5)
        await self._server.wait_closed()

    def url(self, user: str | None = None, password: str | None = None) -> str:
        who = f"{user}:{password}@" if user is not None else ""
        return f"http://{who}127.0.0.1:{self.port}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        try:
            await self._handle(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._tasks.discard(task)
            self._writers.discard(writer)
            writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        first, *header_lines = head.decode("latin-1").split("\r\n")
        method, target, version = first.split(" ")
        headers = [line for line in header_lines if line]
        given = next(
            (h.split(":", 1)[1].strip() for h in headers if h.lower().startswith("proxy-authorization:")),
            None,
        )
        if self._auth is not None and given != self._auth:
            self.refused += 1
            writer.write(b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                         b"Proxy-Authenticate: Basic realm=\"test\"\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()
            return
        self.seen.append(f"{method} {target}")
        hop_by_hop = ("proxy-authorization:", "proxy-connection:")
        kept = [h for h in headers if not h.lower().startswith(hop_by_hop)]
        if not any(h.lower().startswith("upgrade:") for h in kept):
            # One request per connection: the server closes it after answering.
            kept = [h for h in kept if not h.lower().startswith("connection:")]
            kept.append("Connection: close")
        if method == "CONNECT":
            host, port = target.rsplit(":", 1)
            up_reader, up_writer = await asyncio.open_connection(host, int(port))
            self._writers.add(up_writer)
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        else:
            url = urlsplit(target)
            assert url.hostname is not None
            up_reader, up_writer = await asyncio.open_connection(url.hostname, url.port or 80)
            self._writers.add(up_writer)
            path = url.path + (f"?{url.query}" if url.query else "")
            up_writer.write(f"{method} {path} {version}\r\n".encode("latin-1"))
            up_writer.write(("\r\n".join(kept) + "\r\n\r\n").encode("latin-1"))
        await writer.drain()
        try:
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        finally:
            self._writers.discard(up_writer)
            up_writer.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    with contextlib.suppress(OSError, RuntimeError):
        if writer.can_write_eof():
            writer.write_eof()
