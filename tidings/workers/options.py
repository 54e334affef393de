"""What the supervisor of ``tidings serve --workers`` is told, and what it tells each worker."""

from __future__ import annotations

import json
import re
import socket
from dataclasses import asdict, dataclass, field

__all__ = ["WorkerSpec", "WorkersOptions", "default_node", "parse_address"]

_TAG = re.compile(r"[A-Za-z0-9_-]{1,20}")


def default_node() -> str:
    """The host's short name, reduced to what an owner tag may hold (``[A-Za-z0-9_-]``)."""
    name = re.sub(r"[^A-Za-z0-9_-]", "", socket.gethostname().split(".")[0])[:16]
    return name or "node"


def parse_address(text: str) -> tuple[str, int]:
    """``"host:port"`` (``"[::1]:port"`` for IPv6) as a pair; ValueError when it is not one."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) <= 65535:
        raise ValueError(f"expected HOST:PORT, got {text!r}")
    return host.strip("[]"), int(port)


@dataclass(frozen=True, slots=True)
class WorkersOptions:
    """Options of ``tidings.workers.run``; validated once."""

    target: str
    """``module:attribute`` of the app: each worker imports it itself."""
    workers: int = 2
    host: str = "127.0.0.1"
    port: int = 8000
    """0: a free port, chosen once for all workers (logged)."""
    node: str = field(default_factory=default_node)
    """This machine's tag; worker i's owner tag is ``f"{node}-w{i}"``."""
    redis: str | None = None
    """A Redis URL: workers use ``RedisAdapter`` on it instead of the supervisor's local bus."""
    redis_key: str = "socket.io"
    """The Redis adapter's key prefix (Node's ``key``)."""
    advertise: str | None = None
    """``host:port`` where other machines' nodes reach these workers (with ``redis``: a
    request for a session of another machine is relayed there); by default host and port."""
    forwarded_allow_ips: tuple[str, ...] | None = None
    """Peers whose ``X-Forwarded-For``/``-Proto`` are believed (``HttpOptions``)."""
    access_log: bool = True
    drain_spread: float = 3.0
    """Seconds over which each worker closes its sessions at shutdown."""
    shutdown_timeout: float = 10.0
    """Seconds a worker's handlers have to finish after the spread."""
    static_files: dict[str, str] = field(default_factory=dict)
    log_level: str | None = None
    """Set in each worker with ``logging.basicConfig``; None leaves logging to the app."""
    restart_delay: float = 0.5
    """First wait before restarting a worker that died; doubled while it keeps dying young."""
    max_restart_delay: float = 30.0

    def __post_init__(self) -> None:
        if ":" not in self.target:
            raise ValueError(f"expected 'module:attribute', got {self.target!r}")
        if not 1 <= self.workers <= 512:
            raise ValueError("workers must be between 1 and 512")
        if not _TAG.fullmatch(self.node):
            raise ValueError("node must be 1-20 characters of A-Z a-z 0-9 _ -")
        if not 0 <= self.port <= 65535:
            raise ValueError("port must be between 0 and 65535")
        if self.drain_spread < 0 or self.shutdown_timeout <= 0:
            raise ValueError("drain_spread must not be negative, shutdown_timeout must be positive")
        if self.advertise is not None:
            parse_address(self.advertise)
        if not 0 < self.restart_delay <= self.max_restart_delay:
            raise ValueError("restart_delay must be positive and at most max_restart_delay")

    def owner(self, index: int) -> str:
        return f"{self.node}-w{index}"


@dataclass(frozen=True, slots=True)
class WorkerSpec:
    """One worker's orders, passed on its command line as JSON."""

    target: str
    host: str
    port: int
    index: int
    owner: str
    socket_dir: str
    bus_path: str | None
    redis: str | None
    redis_key: str
    advertise: str | None
    forwarded_allow_ips: list[str] | None
    access_log: bool
    drain_spread: float
    shutdown_timeout: float
    static_files: dict[str, str]
    log_level: str | None
    control_fd: int
    """The worker's end of a socket pair: it writes one byte when it listens, and sees the
    end of the stream when the supervisor is gone."""

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> WorkerSpec:
        return cls(**json.loads(text))
