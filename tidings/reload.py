"""``tidings serve --reload``: restart the server process when its source changes.

As uvicorn's ``--reload``: this process binds the listening socket once, watches the
source directories with watchfiles, and runs the server in a child process that
inherits the socket. On a change it stops the child (SIGTERM: a graceful shutdown)
and starts a new one; connections that arrive meanwhile wait in the socket's backlog
instead of being refused. The child runs in its own process group, so a Ctrl-C at
the terminal reaches this process only, which stops the child once, gracefully.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path, PurePath
from types import FrameType

try:
    import watchfiles
except ImportError as exc:
    raise ImportError("--reload needs watchfiles: pip install 'tidings[reload]'") from exc

__all__ = ["DEFAULT_EXCLUDES", "DEFAULT_INCLUDES", "Reloader", "SourceFilter", "listen"]

logger = logging.getLogger("tidings.reload")

DEFAULT_INCLUDES = ("*.py",)
DEFAULT_EXCLUDES = (".*", ".py[cod]", ".sw.*", "~*")
# Directories whose files are never the app's source (as watchfiles' default filter).
IGNORED_DIRS = frozenset(
    {".git", ".hg", ".svn", ".venv", "venv", "node_modules", "__pycache__", ".mypy_cache",
     ".pytest_cache", ".ruff_cache", ".tox", ".hypothesis", ".idea"}
)


class SourceFilter:
    """Which changed files restart the server: uvicorn's ``--reload-include`` and
    ``--reload-exclude`` rules. A file matches a glob by its name or by its path's
    tail (``PurePath.match``); ``*.py`` is always included, and a pattern given to
    include is taken out of the default excludes. A directory given to exclude
    excludes everything under it, and so do the directories of ``IGNORED_DIRS`` below
    the watched ``roots``."""

    def __init__(
        self, includes: Iterable[str] = (), excludes: Iterable[str] = (),
        roots: Iterable[Path] = (),
    ) -> None:
        self.roots = [Path(r).resolve() for r in roots]
        self.includes = list(dict.fromkeys([*DEFAULT_INCLUDES, *includes]))
        patterns = [p for p in (*DEFAULT_EXCLUDES, *excludes) if p not in self.includes]
        self.exclude_dirs = [Path(p).resolve() for p in patterns if Path(p).is_dir()]
        self.excludes = [p for p in dict.fromkeys(patterns) if not Path(p).is_dir()]

    def __call__(self, change: object, path: str) -> bool:
        return self.matches(PurePath(path))

    def matches(self, path: PurePath) -> bool:
        if not any(path.match(p) for p in self.includes):
            return False
        below = next((path.relative_to(r) for r in self.roots if path.is_relative_to(r)), path)
        if IGNORED_DIRS.intersection(below.parts[:-1]):
            return False
        if any(d == path or d in path.parents for d in self.exclude_dirs):
            return False
        return not any(path.match(p) for p in self.excludes)


def listen(host: str, port: int, backlog: int = 2048) -> socket.socket:
    """The listening socket the server processes inherit, bound as asyncio's
    ``create_server`` would bind it (the first address ``host`` resolves to)."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(address)
        sock.listen(backlog)
    except BaseException:
        sock.close()
        raise
    return sock


class Reloader:
    """Runs ``start()``'s process, and a new one each time a source file under ``dirs``
    that ``source_filter`` accepts changes, until SIGINT or SIGTERM."""

    def __init__(
        self,
        start: Callable[[], subprocess.Popen[bytes]],
        dirs: Sequence[Path],
        source_filter: SourceFilter,
        *,
        stop_timeout: float = 15.0,
    ) -> None:
        self.start = start
        self.dirs = [Path(d).resolve() for d in dirs]
        self.source_filter = source_filter
        self.stop_timeout = stop_timeout
        """How long a server process may take to shut down before it is killed."""
        self.process: subprocess.Popen[bytes] | None = None
        self._exit_reported = False

    def run(self) -> int:
        stop = threading.Event()

        def on_signal(signum: int, frame: FrameType | None) -> None:
            stop.set()

        if not logger.isEnabledFor(logging.DEBUG):  # its "N changes detected": ours says which
            logging.getLogger("watchfiles.main").setLevel(logging.WARNING)
        signals = (signal.SIGINT, signal.SIGTERM)
        previous = {sig: signal.signal(sig, on_signal) for sig in signals}
        try:
            logger.info("watching for changes in %s", ", ".join(map(str, self.dirs)))
            self._spawn()
            for changes in watchfiles.watch(
                *self.dirs, watch_filter=self.source_filter, stop_event=stop,
                yield_on_timeout=True, rust_timeout=500, raise_interrupt=False,
            ):
                if stop.is_set():
                    break
                if changes:
                    names = sorted({_shown(path) for _, path in changes})
                    logger.warning("%s changed, restarting", ", ".join(names))
                    self._terminate()
                    self._spawn()
                else:
                    self._check_exited()
        finally:
            self._terminate()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return 0

    def _spawn(self) -> None:
        self.process = self.start()
        self._exit_reported = False
        logger.info("started server process [%d]", self.process.pid)

    def _check_exited(self) -> None:
        process = self.process
        if process is None or self._exit_reported:
            return
        code = process.poll()
        if code is not None:
            self._exit_reported = True
            logger.error(
                "server process [%d] exited with code %d; it restarts when a file changes",
                process.pid, code,
            )

    def _terminate(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(self.stop_timeout)
        except subprocess.TimeoutExpired:
            logger.warning("server process [%d] did not stop in time: killed", process.pid)
            process.kill()
            process.wait()
        logger.info("stopped server process [%d]", process.pid)


def _shown(path: str) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:
        return path
