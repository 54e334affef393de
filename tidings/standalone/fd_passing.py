"""Passing an accepted TCP connection to another process of this machine (SCM_RIGHTS).

The sender connects to the receiver's unix socket, sends the bytes it already
read of the connection (after their length) with the connection's file
descriptor attached, and closes: one unix connection per hand-off, so a
hand-off is either whole or did not happen (a failed connect leaves the
connection with the sender; a sender interrupted midway sends fewer bytes than
it announced, and the receiver drops the connection rather than adopt half a
request). The receiver reads to the end, then adopts the descriptor with
those bytes.

Plain ``add_reader``/``add_writer`` and ``sock_connect``/``sock_sendall``:
both asyncio's own loop and uvloop offer them, and neither has ``recvmsg``.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import logging
import os
import socket
import struct
from collections.abc import Callable

logger = logging.getLogger("tidings.standalone")

__all__ = ["FdReceiver", "pass_connection"]

#: The most bytes accepted with one passed connection (a head and what of a body came with it).
MAX_PASSED_BYTES = 64 * 1024 * 1024
_READ_SIZE = 256 * 1024
_FD_SIZE = array.array("i").itemsize
_LENGTH = struct.Struct("!Q")
#: Received descriptors are not inherited by processes this one starts (Linux).
_CLOEXEC = getattr(socket, "MSG_CMSG_CLOEXEC", 0)


async def pass_connection(
    loop: asyncio.AbstractEventLoop, path: str, fd: int, data: bytes
) -> None:
    """Give the connection ``fd`` and the bytes ``data`` read of it to the process at ``path``.

    Raises ``OSError`` when that process is not there (the connection stays ours)."""
    data = _LENGTH.pack(len(data)) + data
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        unix.setblocking(False)
        await loop.sock_connect(unix, path)
        while True:
            try:
                # A stream socket carries ancillary data with at least one byte.
                sent = socket.send_fds(unix, [data], [fd])
                break
            except BlockingIOError:
                await _writable(loop, unix)
        if sent < len(data):
            await loop.sock_sendall(unix, data[sent:])
    finally:
        unix.close()


async def _writable(loop: asyncio.AbstractEventLoop, sock: socket.socket) -> None:
    ready: asyncio.Future[None] = loop.create_future()
    fd = sock.fileno()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_writer(fd, wake)
    try:
        await ready
    finally:
        loop.remove_writer(fd)


class _Incoming:
    """One hand-off being received."""

    __slots__ = ("data", "fds", "size", "sock")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.data: list[bytes] = []
        self.fds: list[int] = []
        self.size = 0


class FdReceiver:
    """Listens on ``path`` for connections passed by other processes and adopts them
    with ``adopt(sock, data)``."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        path: str,
        adopt: Callable[[socket.socket, bytes], None],
    ) -> None:
        self._loop = loop
        self.path = path
        self._adopt = adopt
        self._listener: socket.socket | None = None
        self._inode = 0  # the socket file's, to remove it only if it is still ours
        self._incoming: dict[int, _Incoming] = {}

    def start(self) -> None:
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            # A file left by a process of the same tag that is gone: ours now.
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
            listener.bind(self.path)
            self._inode = os.stat(self.path).st_ino
            listener.listen(512)
            listener.setblocking(False)
        except BaseException:
            listener.close()
            raise
        self._listener = listener
        self._loop.add_reader(listener.fileno(), self._accept)

    def close(self) -> None:
        """Stop listening, remove the socket file and drop hand-offs half received."""
        listener = self._listener
        if listener is None:
            return
        self._listener = None
        self._loop.remove_reader(listener.fileno())
        with contextlib.suppress(OSError):
            # Only if it is still ours: a successor of the same tag may have replaced it.
            if os.stat(self.path).st_ino == self._inode:
                os.unlink(self.path)
        listener.close()
        for incoming in list(self._incoming.values()):
            self._drop(incoming)

    def _accept(self) -> None:
        listener = self._listener
        if listener is None:
            return
        while True:
            try:
                sock, _ = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                logger.warning("hand-off socket %s: accept failed: %s", self.path, exc)
                return
            sock.setblocking(False)
            incoming = _Incoming(sock)
            self._incoming[sock.fileno()] = incoming
            self._loop.add_reader(sock.fileno(), self._read, incoming)

    def _read(self, incoming: _Incoming) -> None:
        sock = incoming.sock
        try:
            data, ancdata, _, _ = sock.recvmsg(
                _READ_SIZE, socket.CMSG_SPACE(4 * _FD_SIZE), _CLOEXEC
            )
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            logger.warning("hand-off socket %s: read failed: %s", self.path, exc)
            self._drop(incoming)
            return
        for level, kind, payload in ancdata:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                passed = array.array("i")
                passed.frombytes(payload[: len(payload) - len(payload) % _FD_SIZE])
                incoming.fds.extend(passed)
        if data:
            incoming.data.append(data)
            incoming.size += len(data)
            if incoming.size > MAX_PASSED_BYTES:
                logger.warning("hand-off socket %s: too many bytes with one connection", self.path)
                self._drop(incoming)
            return
        # The sender is done: adopt the connection with what was read of it.
        fds = incoming.fds
        incoming.fds = []
        self._drop(incoming)
        data = b"".join(incoming.data)
        whole = len(data) > _LENGTH.size and _LENGTH.unpack_from(data)[0] == len(data) - _LENGTH.size
        if len(fds) != 1 or not whole:
            logger.warning("hand-off socket %s: a hand-off cut short or without one"
                           " connection: dropped", self.path)
            for fd in fds:
                os.close(fd)
            return
        try:
            conn = socket.socket(fileno=fds[0])
        except OSError:
            os.close(fds[0])
            return
        try:
            self._adopt(conn, data[_LENGTH.size :])
        except Exception:
            logger.exception("hand-off socket %s: adopting a connection failed", self.path)
            conn.close()

    def _drop(self, incoming: _Incoming) -> None:
        sock = incoming.sock
        fileno = sock.fileno()
        if self._incoming.pop(fileno, None) is not None:
            self._loop.remove_reader(fileno)
        sock.close()
        for fd in incoming.fds:
            os.close(fd)
        incoming.fds = []
