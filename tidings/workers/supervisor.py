"""``Supervisor``: N worker processes on one port, one cluster, restarted when they die.

Each worker is ``python -m tidings.workers SPEC`` with the supervisor's interpreter: it
imports the app itself and listens on the shared port with SO_REUSEPORT, so the kernel
spreads connections over the workers. The supervisor hosts the local bus (``BusHub``)
that makes them one cluster, unless they use Redis; it makes the private directory of
their sockets and removes it at the end. SIGTERM or SIGINT drains every worker (each
closes its sessions over the drain spread); a second one makes them drop everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
from typing import TYPE_CHECKING, Any

from tidings.standalone.loops import loop_factory
from tidings.workers.options import WorkersOptions, WorkerSpec

if TYPE_CHECKING:
    from tidings.adapters.localbus import BusHub

__all__ = ["Supervisor", "run"]

logger = logging.getLogger("tidings.workers")

STABLE_AFTER = 10.0
"""A worker that lived this long before dying is restarted after the first delay again."""
KILL_GRACE = 5.0
"""Seconds past a worker's own drain and shutdown time before it is killed."""


class WorkerSlot:
    """Worker ``index``: its current process and how often it died young."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.process: asyncio.subprocess.Process | None = None
        self.failures = 0
        self.ready = asyncio.Event()
        self.status: int | None = None


def exit_status(returncode: int) -> int:
    """A process's exit status as a shell reports it (128 + signal for a killed one)."""
    return 128 - returncode if returncode < 0 else returncode


class Supervisor:
    """Runs the workers of ``options`` until a signal, then drains them (``run`` blocks on it)."""

    def __init__(self, options: WorkersOptions) -> None:
        self.options = options
        self.slots = [WorkerSlot(i) for i in range(options.workers)]
        self.port = options.port
        self.socket_dir = ""
        self._stopping = asyncio.Event()
        self._any_ready = False
        self._failed: int | None = None
        self._signals = 0

    async def run(self) -> int:
        """Serve until SIGTERM/SIGINT; the exit status: 0 when every worker drained cleanly."""
        options = self.options
        self.socket_dir = tempfile.mkdtemp(prefix="tidings-")
        hub: BusHub | None = None
        reserved = self._reserve_port()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._on_signal)
        try:
            bus_path = None
            if options.redis is None:
                from tidings.adapters.localbus import BusHub

                bus_path = os.path.join(self.socket_dir, "bus.sock")
                hub = BusHub(bus_path)
                await hub.start()
            keepers = [
                asyncio.create_task(self._keep(slot, bus_path)) for slot in self.slots
            ]
            ready = asyncio.ensure_future(asyncio.gather(*(s.ready.wait() for s in self.slots)))
            stopping = asyncio.ensure_future(self._stopping.wait())
            await asyncio.wait((ready, stopping), return_when=asyncio.FIRST_COMPLETED)
            if ready.done():
                shown = f"[{options.host}]" if ":" in options.host else options.host
                logger.info(
                    "listening on http://%s:%d with %d workers (node %s)",
                    shown, self.port, len(self.slots), options.node,
                )
            await stopping
            ready.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ready
            await self._drain()
            await asyncio.gather(*keepers)
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
            if hub is not None:
                await hub.close()
            if reserved is not None:
                reserved.close()
            shutil.rmtree(self.socket_dir, ignore_errors=True)
        if self._failed is not None:
            return self._failed
        statuses = [s.status for s in self.slots if s.status]
        return statuses[0] if statuses else 0

    def _reserve_port(self) -> socket.socket | None:
        """Port 0: bind one (SO_REUSEPORT, never listening) so every worker gets the same."""
        if self.port != 0:
            return None
        family = socket.AF_INET6 if ":" in self.options.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((self.options.host, 0))
        self.port = int(sock.getsockname()[1])
        return sock

    def _on_signal(self) -> None:
        self._signals += 1
        if self._signals == 1:
            logger.info("draining %d workers", len(self.slots))
            self._stopping.set()
        else:
            logger.warning("second signal: workers drop every connection")
            self._signal_all(signal.SIGTERM)

    def _signal_all(self, sig: int) -> None:
        for slot in self.slots:
            process = slot.process
            if process is not None and process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(sig)

    async def _drain(self) -> None:
        self._signal_all(signal.SIGTERM)
        limit = self.options.drain_spread + self.options.shutdown_timeout + KILL_GRACE
        waits = [s.process.wait() for s in self.slots if s.process is not None]
        if not waits:
            return
        _, pending = await asyncio.wait([asyncio.ensure_future(w) for w in waits], timeout=limit)
        if pending:
            logger.warning("%d workers still running after %.0fs: killed", len(pending), limit)
            self._signal_all(signal.SIGKILL)

    # -- one worker slot ----------------------------------------------------------------

    async def _keep(self, slot: WorkerSlot, bus_path: str | None) -> None:
        """Start worker ``slot``; while not stopping, start it again each time it ends."""
        try:
            await self._keep_running(slot, bus_path)
        except Exception:
            logger.exception("worker %d cannot be started: stopping", slot.index)
            self._failed = 1
            self._stopping.set()

    async def _keep_running(self, slot: WorkerSlot, bus_path: str | None) -> None:
        loop = asyncio.get_running_loop()
        while not self._stopping.is_set():
            started = loop.time()
            returncode = await self._run_once(slot, bus_path)
            if self._stopping.is_set():
                slot.status = exit_status(returncode)
                return
            if returncode != 0 and not self._any_ready:
                logger.error(
                    "worker %d failed to start (exit status %d): stopping",
                    slot.index, exit_status(returncode),
                )
                self._failed = exit_status(returncode)
                self._stopping.set()
                return
            slot.failures = 0 if loop.time() - started >= STABLE_AFTER else slot.failures + 1
            delay = min(
                self.options.restart_delay * 2 ** max(slot.failures - 1, 0),
                self.options.max_restart_delay,
            )
            logger.warning(
                "worker %d (pid %s) died (exit status %d); restarting in %.1fs",
                slot.index, slot.process.pid if slot.process else "?",
                exit_status(returncode), delay,
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)

    async def _run_once(self, slot: WorkerSlot, bus_path: str | None) -> int:
        options = self.options
        mine, theirs = socket.socketpair()
        mine.setblocking(False)
        spec = WorkerSpec(
            target=options.target, host=options.host, port=self.port, index=slot.index,
            owner=options.owner(slot.index), socket_dir=self.socket_dir, bus_path=bus_path,
            redis=options.redis, redis_key=options.redis_key, advertise=options.advertise,
            forwarded_allow_ips=(
                None if options.forwarded_allow_ips is None else list(options.forwarded_allow_ips)
            ),
            access_log=options.access_log,
            drain_spread=options.drain_spread,
            shutdown_timeout=options.shutdown_timeout, static_files=dict(options.static_files),
            log_level=options.log_level, control_fd=theirs.fileno(),
        )
        try:
            process = slot.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "tidings.workers", spec.to_json(),
                pass_fds=(theirs.fileno(),),
                # Its own process group: a Ctrl+C at the terminal reaches the supervisor
                # alone, which drains the workers once.
                start_new_session=True,
            )
        finally:
            theirs.close()
        logger.debug("worker %d started, pid %d", slot.index, process.pid)
        watch = asyncio.create_task(self._watch_ready(slot, mine))
        try:
            return await process.wait()
        finally:
            watch.cancel()
            mine.close()

    async def _watch_ready(self, slot: WorkerSlot, control: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        # ``control`` stays open until the worker ends (``_run_once`` closes it): its end of
        # stream is how a worker learns that the supervisor is gone.
        with contextlib.suppress(OSError):
            if await loop.sock_recv(control, 1):
                self._any_ready = True
                slot.ready.set()


def run(
    target: str,
    *,
    workers: int = 2,
    host: str = "127.0.0.1",
    port: int = 8000,
    node: str | None = None,
    redis: str | None = None,
    redis_key: str = "socket.io",
    advertise: str | None = None,
    forwarded_allow_ips: tuple[str, ...] | None = None,
    access_log: bool = True,
    drain_spread: float = 3.0,
    shutdown_timeout: float = 10.0,
    static_files: dict[str, str] | None = None,
    log_level: str | None = None,
) -> int:
    """Serve the app ``target`` (``"module:attribute"``) with ``workers`` processes on one port
    until SIGTERM or SIGINT; returns the exit status (0 when every worker drained cleanly).

    Each worker imports ``target`` itself, so the app is made at import time of its module,
    as for ``tidings serve``. See docs/workers.md."""
    extra: dict[str, Any] = {} if node is None else {"node": node}
    options = WorkersOptions(
        target=target, workers=workers, host=host, port=port, redis=redis, redis_key=redis_key,
        advertise=advertise, forwarded_allow_ips=forwarded_allow_ips, access_log=access_log,
        drain_spread=drain_spread, shutdown_timeout=shutdown_timeout,
        static_files=dict(static_files or {}), log_level=log_level, **extra,
    )
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(Supervisor(options).run())
