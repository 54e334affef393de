"""What is measured: the servers, the scenarios and their sizes (quick and full)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.procs import ROOT

FANOUT, OVERLOAD, ECHO, CONNECT, BINARY, POLLING, CLUSTER = (
    "fanout", "overload", "echo", "connect", "binary", "polling", "cluster")
SINGLE_SERVER = (FANOUT, OVERLOAD, ECHO, CONNECT, BINARY, POLLING)
ALL_SCENARIOS = (*SINGLE_SERVER, CLUSTER)
CLUSTER_NODES = 2  # node A (the publisher's server) and node B (the receivers' server)
REDIS_URL = "redis://127.0.0.1:6379/0"


@dataclass(frozen=True, slots=True)
class ServerSpec:
    name: str
    argv: Callable[[int], list[str]]
    scenarios: frozenset[str]
    probe: Callable[[], str | None]  # why it cannot run here, or None
    note: str = ""
    cluster_probe: Callable[[], str | None] | None = None  # why no cluster case, or None
    pinned: bool = True
    """False: several worker processes; they and the load generator share every core."""
    ready: str = ""
    """A regex the server's log shows once every worker listens ("": listening is enough)."""

    def node_argv(self, port: int, redis_url: str, key_prefix: str) -> list[str]:
        """One cluster node: the same app with the Redis adapter (classic format)."""
        return [*self.argv(port), "--redis", redis_url, "--redis-key", key_prefix]


def _python_probe(code: str) -> Callable[[], str | None]:
    def probe() -> str | None:
        done = subprocess.run([sys.executable, "-c", code], check=False, cwd=ROOT,
                              capture_output=True, text=True, timeout=60)
        if done.returncode == 0:
            return None
        lines = (done.stderr.strip() or "failed").splitlines()
        return lines[-1][:160]
    return probe


def _node_probe(*packages: str) -> Callable[[], str | None]:
    def probe() -> str | None:
        for package in ("socket.io", *packages):
            if not (ROOT / "node_modules" / package).is_dir():
                return f"node_modules/{package} missing (npm ci at the repository root)"
        return None
    return probe


def _py(module: str, *extra: str) -> Callable[[int], list[str]]:
    return lambda port: [sys.executable, "-m", module, "--port", str(port), *extra]


def _tidings_app(checkout: str) -> Callable[[int], list[str]]:
    """The benchmark app on the tidings of ``checkout``, started alike for this checkout
    and a baseline: started with ``-m`` here and through ``runpy`` for the baseline, two
    copies of the same code differed by up to 20% in the 64 KiB binary echo (all of it
    kernel time, the processes' memory laid out differently), in the baseline's favour."""
    boot = (f"import runpy, sys; sys.path.insert(0, {checkout!r}); "
            "runpy.run_module('bench.servers.tidings_app', run_name='__main__')")
    return lambda port: [sys.executable, "-c", boot, "--port", str(port)]


SERVERS: tuple[ServerSpec, ...] = (
    ServerSpec(
        "tidings", _tidings_app(str(ROOT)), frozenset(ALL_SCENARIOS),
        _python_probe("import tidings, tidings.standalone, uvloop; "
                      "tidings.Server; tidings.standalone.serve"),
        "built-in server, uvloop",
        _python_probe("from tidings.adapters.redis import RedisAdapter")),
    ServerSpec(
        "node", lambda port: ["node", "bench/servers/node_app.cjs", "--port", str(port)],
        frozenset(ALL_SCENARIOS), _node_probe(), "socket.io 4.8 on Node",
        _node_probe("@socket.io/redis-adapter", "redis")),
    ServerSpec(
        "psio", _py("bench.servers.psio_app"), frozenset(SINGLE_SERVER),
        _python_probe("import socketio, uvicorn, uvloop, websockets"),
        "python-socketio 5.18 on uvicorn, uvloop"),
    ServerSpec(
        "floor", _py("bench.servers.floor"), frozenset({FANOUT, OVERLOAD, ECHO, CONNECT}),
        _python_probe("import uvloop"), "bare asyncio.Protocol broadcaster, one write per frame"),
    ServerSpec(
        "floor-co", _py("bench.servers.floor", "--coalesce"), frozenset({FANOUT, OVERLOAD}),
        _python_probe("import uvloop"), "bare broadcaster, one write per connection per loop turn"),
)


WORKER_SCENARIOS = frozenset({FANOUT, ECHO})


def _node_resolves(*packages: str) -> Callable[[], str | None]:
    """Whether Node finds these packages from bench/servers (the root's node_modules or nearer)."""
    def probe() -> str | None:
        for package in packages:
            done = subprocess.run(["node", "-e", f"require.resolve({package!r})"], check=False,
                                  cwd=ROOT / "bench" / "servers", capture_output=True, timeout=30)
            if done.returncode != 0:
                return f"Node cannot find {package} (npm ci at the repository root)"
        return None
    return probe


def _tidings_workers(n: int) -> ServerSpec:
    return ServerSpec(
        f"tidings-w{n}",
        lambda port: [sys.executable, "-m", "tidings", "serve",
                      "bench.servers.tidings_workers_app:sio", "--workers", str(n),
                      "--port", str(port), "--drain-spread", "0"],
        WORKER_SCENARIOS,
        _python_probe("import tidings.workers, uvloop; from tidings.adapters.localbus import BusHub"),
        f"tidings serve --workers {n} (local bus), uvloop", pinned=False,
        ready=rf"listening on \S+ with {n} workers")


def _node_workers(n: int) -> ServerSpec:
    return ServerSpec(
        f"node-w{n}",
        lambda port: ["node", "bench/servers/node_cluster_app.cjs", "--port", str(port),
                      "--workers", str(n)],
        WORKER_SCENARIOS, _node_resolves("socket.io", "@socket.io/cluster-adapter"),
        f"socket.io 4.8, node:cluster with {n} workers, @socket.io/cluster-adapter", pinned=False,
        ready=rf"READY \d+ pid=\d+ workers={n}")


WORKER_SERVERS: tuple[ServerSpec, ...] = (
    _tidings_workers(1), _tidings_workers(2), _node_workers(1), _node_workers(2))
"""``--workers``: 1 and 2 worker processes of each, for the scaling factor (unpinned)."""


def baseline_spec(checkout: str) -> ServerSpec:
    """``tidings-base``: the benchmark app on the tidings of another checkout (an earlier
    commit in a second work tree), to compare two versions in one interleaved run."""
    check = (f"import sys; sys.path.insert(0, {checkout!r}); import tidings, uvloop; "
             f"assert tidings.__file__.startswith({checkout!r}), tidings.__file__")
    return ServerSpec(
        "tidings-base", _tidings_app(checkout),
        frozenset(SINGLE_SERVER), _python_probe(check), "the same app on the baseline checkout")


@dataclass(frozen=True, slots=True)
class Case:
    """One measured situation: a scenario at one size."""

    key: str
    scenario: str
    params: dict[str, Any] = field(default_factory=dict)
    deadline_s: float = 300.0


def cluster_cases(quick: bool, sizes: list[int] | None = None) -> list[Case]:
    """Fan-out across two nodes: N receivers on node B, the publisher on node A."""
    if quick:
        return [Case(f"cluster n={n}", CLUSTER, {"n": n, "publishes": max(20, 30_000 // n)},
                     deadline_s=120) for n in sizes or [500]]
    return [Case(f"cluster n={n}", CLUSTER,
                 {"n": n, "publishes": max(30, 300_000 // n), "publish_timeout_ms": 20_000},
                 deadline_s=600) for n in sizes or [1000, 5000]]


def cases(quick: bool, fanout_sizes: list[int] | None = None) -> list[Case]:
    return _single_server_cases(quick, fanout_sizes) + cluster_cases(quick, fanout_sizes)


def _single_server_cases(quick: bool, fanout_sizes: list[int] | None = None) -> list[Case]:
    if quick:
        sizes = fanout_sizes or [500]
        out = [Case(f"fanout n={n}", FANOUT, {"n": n, "publishes": max(20, 30_000 // n)},
                    deadline_s=120) for n in sizes]
        out += [
            Case("overload n=500 @200/s", OVERLOAD,
                 {"n": 500, "rate": 200, "publishes": 100, "drain_timeout_ms": 30_000}, 120),
            Case("echo c=50", ECHO, {"clients": 50, "duration_ms": 1000, "warmup_ms": 300}, 60),
            Case("connect n=500", CONNECT, {"n": 500, "concurrency": 50, "settle_ms": 500}, 90),
            Case("binary 64KiB c=10", BINARY,
                 {"clients": 10, "duration_ms": 1000, "warmup_ms": 300, "size": 65536}, 60),
            Case("polling n=100", POLLING,
                 {"n": 100, "publishes": 10, "transport": "polling", "concurrency": 50}, 120),
        ]
        return out
    sizes = fanout_sizes or [1000, 5000, 10000]
    out = [Case(f"fanout n={n}", FANOUT,
                {"n": n, "publishes": max(30, 300_000 // n), "publish_timeout_ms": 20_000},
                deadline_s=600) for n in sizes]
    out += [
        Case("overload n=1000 @200/s", OVERLOAD,
             {"n": 1000, "rate": 200, "publishes": 400, "drain_timeout_ms": 90_000}, 300),
        Case("echo c=50", ECHO, {"clients": 50, "duration_ms": 5000, "warmup_ms": 1000}, 120),
        Case("connect n=5000", CONNECT, {"n": 5000, "concurrency": 100, "settle_ms": 1500}, 300),
        Case("binary 64KiB c=10", BINARY,
             {"clients": 10, "duration_ms": 5000, "warmup_ms": 1000, "size": 65536}, 120),
        Case("polling n=500", POLLING,
             {"n": 500, "publishes": 30, "transport": "polling", "concurrency": 100}, 300),
    ]
    return out
