"""One worker process of ``tidings serve --workers``: ``python -m tidings.workers SPEC``.

It imports the app itself, puts it on the workers' cluster, listens on the shared port
(SO_REUSEPORT), tells the supervisor it is ready, and serves until SIGTERM or SIGINT
(or until its supervisor is gone); then it closes its sessions over the drain spread and
shuts down gracefully. A second signal drops every connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import sys
from typing import Any

from tidings.adapters.memory import InMemoryAdapter
from tidings.server import Server
from tidings.standalone import HttpOptions, HttpServer
from tidings.standalone.handoff import HandoffOptions, PeerDirectory
from tidings.standalone.loops import loop_factory
from tidings.workers.options import WorkerSpec, parse_address
from tidings.workers.target import TargetError, load_target

__all__ = ["handoff_options", "install_adapter", "main", "serve_worker"]

logger = logging.getLogger("tidings.workers")

READY = b"R"


def install_adapter(
    app: object, *, redis: str | None = None, redis_key: str = "socket.io",
    bus_path: str | None = None,
) -> None:
    """Put a ``tidings.Server`` made at import time on the workers' cluster: its namespaces'
    adapters are made again (``Server.use_adapter``) with ``RedisAdapter`` when ``--redis``
    says so, else with the supervisor's local bus. A server given a cluster adapter of its
    own keeps it; an app that is not a ``Server`` (a bare engine, raw routes) has no rooms."""
    if not isinstance(app, Server):
        return
    if app.adapter_factory is not InMemoryAdapter:
        logger.info("the app keeps its own adapter %r", app.adapter_factory)
        return
    if redis is not None:
        from tidings.adapters.redis import RedisAdapter

        app.use_adapter(RedisAdapter(redis, key_prefix=redis_key))
    elif bus_path is not None:
        from tidings.adapters.localbus import LocalBusAdapter

        app.use_adapter(LocalBusAdapter(bus_path))


def handoff_options(
    owner: str, socket_dir: str | None = None, *, redis: str | None = None,
    redis_key: str = "socket.io", advertise: str | None = None,
) -> HandoffOptions:
    """``handoff=`` for ``HttpServer`` or ``run``: this process's owner tag and, for a
    worker, the private socket directory, so a request for another worker's session is
    passed to it (polling clients need no sticky balancing)."""
    peers: PeerDirectory | None = None
    if redis is not None:  # the nodes of other machines are found there
        from tidings.standalone import RedisPeerDirectory

        peers = RedisPeerDirectory(redis, key_prefix=redis_key)
    return HandoffOptions(
        owner=owner, socket_dir=socket_dir, peers=peers,
        advertise=None if advertise is None else parse_address(advertise),
    )


async def serve_worker(app: Any, spec: WorkerSpec) -> None:
    """Serve ``app`` until told to stop, then drain (the worker's whole life)."""
    if isinstance(app, Server):
        app.shutdown_spread = spec.drain_spread
        app.node_id = spec.owner  # its sessions in a shared history store are its own
    options = HttpOptions(
        forwarded_allow_ips=None if spec.forwarded_allow_ips is None else frozenset(spec.forwarded_allow_ips),
        access_log=spec.access_log,
    )
    server = HttpServer(
        app, spec.host, spec.port, static_files=spec.static_files or None, reuse_port=True,
        options=options,
        handoff=handoff_options(
            spec.owner, spec.socket_dir, redis=spec.redis, redis_key=spec.redis_key,
            advertise=spec.advertise,
        ),
    )
    loop = asyncio.get_running_loop()
    control = socket.socket(fileno=spec.control_fd)
    control.setblocking(False)
    stop = asyncio.Event()

    def on_signal() -> None:
        if stop.is_set():
            logger.warning("worker %d: second signal, dropping every connection", spec.index)
            server.abort_all()
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    watch: asyncio.Task[None] | None = None
    try:
        await server.start()
        await loop.sock_sendall(control, READY)
        watch = asyncio.create_task(_watch_supervisor(loop, control, stop))
        logger.info("worker %d (%s) serving", spec.index, spec.owner)
        await stop.wait()
        logger.info("worker %d draining over %.1fs", spec.index, spec.drain_spread)
        await server.close(spec.drain_spread + spec.shutdown_timeout)
    finally:
        if watch is not None:
            watch.cancel()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        control.close()


async def _watch_supervisor(
    loop: asyncio.AbstractEventLoop, control: socket.socket, stop: asyncio.Event
) -> None:
    """The supervisor holds the other end: its end of stream means it is gone, so drain."""
    with contextlib.suppress(OSError):
        while await loop.sock_recv(control, 64):
            pass
    if not stop.is_set():
        logger.warning("the supervisor is gone: draining")
        stop.set()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    spec = WorkerSpec.from_json(args[0])
    if spec.log_level is not None:
        logging.basicConfig(
            level=getattr(logging, spec.log_level.upper()),
            format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        )
    try:
        app = load_target(spec.target)
    except TargetError as exc:
        print(f"worker {spec.index}: {exc}", file=sys.stderr)
        return 1
    install_adapter(app, redis=spec.redis, redis_key=spec.redis_key, bus_path=spec.bus_path)
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        runner.run(serve_worker(app, spec))
    return 0
