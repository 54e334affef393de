"""``python -m bench``: set up, run every server through every scenario, interleaved over
rounds, server pinned to one core and load generator to the other; print the table and
keep the JSON.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import random
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import procs, report, setup_env
from bench.scenarios import (
    ALL_SCENARIOS,
    CLUSTER,
    CLUSTER_NODES,
    FANOUT,
    OVERLOAD,
    REDIS_URL,
    SERVERS,
    WORKER_SCENARIOS,
    WORKER_SERVERS,
    Case,
    ServerSpec,
    baseline_spec,
    cases,
)

LOADGEN = "bench/loadgen/loadgen.cjs"


class Progress:
    """One status line on stderr, rewritten in place (plain lines when not a terminal)."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.prefix = ""
        self.started = time.monotonic()
        self.last_plain = 0.0

    def set(self, prefix: str) -> None:
        self.prefix = prefix
        self.show("", force=True)

    def show(self, text: str, force: bool = False) -> None:
        elapsed = time.monotonic() - self.started
        line = f"[{elapsed // 60:02.0f}:{elapsed % 60:02.0f}] {self.prefix} {text}".rstrip()
        if self.tty:
            columns = max(40, os.get_terminal_size(sys.stderr.fileno()).columns - 1)
            sys.stderr.write("\r\x1b[K" + line[:columns])
            sys.stderr.flush()
        elif force or time.monotonic() - self.last_plain > 10:
            self.last_plain = time.monotonic()
            print(line, file=sys.stderr, flush=True)

    def log(self, text: str) -> None:
        if self.tty:
            sys.stderr.write("\r\x1b[K")
        print(text, file=sys.stderr, flush=True)
        if self.tty and self.prefix:
            self.show("")

    def done(self) -> None:
        if self.tty:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()


def _affinity(pid: int) -> list[int]:
    try:
        return sorted(os.sched_getaffinity(pid))
    except OSError:  # already gone
        return []


@dataclasses.dataclass(frozen=True, slots=True)
class PublisherNode:
    """Where the C generator's publisher connects in a cluster case (node A), and the
    redis-server whose CPU it also reads (pid 0: not readable here)."""

    port: int
    pid: int
    redis_pid: int = 0


def _c_argv(generator: Path, params: dict[str, Any], port: int, pid: int,
            publisher: PublisherNode | None = None) -> list[str]:
    """The C generator's command line for a fan-out, overload or cluster case (see fanout.c);
    ``port``/``pid``: the receivers' server (node B in a cluster case)."""
    overload = params["scenario"] == OVERLOAD
    timeout = params.get("drain_timeout_ms", 60_000) if overload else params.get(
        "publish_timeout_ms", 10_000)
    argv = [str(generator), params["scenario"], procs.HOST, str(port), str(pid), str(params["n"]),
            str(params["publishes"]), str(params.get("warmup", 5)),
            str(params.get("concurrency", 200)), str(params.get("rate", 0)), str(timeout),
            str(params["clk_tck"]), str(params.get("pad", 32))]
    if publisher is not None:
        argv += [str(publisher.port), str(publisher.pid), str(publisher.redis_pid)]
    return argv


def start_nodes(argvs: list[list[str]], ports: list[int], cpus: frozenset[int],
                log_path: Path) -> list[subprocess.Popen[bytes]]:
    """Start one server process per argv, all pinned to ``cpus``, and wait until each
    listens on its port; if one fails, the ones already started are stopped."""
    started: list[subprocess.Popen[bytes]] = []
    try:
        with log_path.open("ab") as log:
            for argv in argvs:
                started.append(procs.start(argv, cpus, stdout=log, stderr=log))
        for proc, port in zip(started, ports, strict=True):
            procs.wait_listening(port, proc)
    except BaseException:
        for proc in started:
            procs.stop(proc)
        raise
    return started


def _drive(argv: list[str], case: Case, cpus: frozenset[int], progress: Progress,
           logdir: Path) -> dict[str, Any]:
    """Run the load generator to its end: its result, or the error it reported."""
    with (logdir / "loadgen.log").open("ab") as err:
        loadgen = procs.start(argv, cpus, stdout=subprocess.PIPE, stderr=err)
    watchdog = threading.Timer(case.deadline_s + 30, lambda: procs.stop(loadgen, 1.0))
    watchdog.start()
    outcome: dict[str, Any] = {"error": "load generator ended without a result"}
    try:
        assert loadgen.stdout is not None
        for raw in loadgen.stdout:
            try:
                message = json.loads(raw)
            except ValueError:
                continue
            if message.get("type") == "progress":
                progress.show(message["text"])
            elif message.get("type") == "result":
                outcome = {"result": message["result"]}
            elif message.get("type") == "error":
                outcome = {"error": message["error"]}
        loadgen.wait(10)
    finally:
        watchdog.cancel()
        procs.stop(loadgen, 1.0)
    return outcome


def run_one(spec: ServerSpec, case: Case, client: str, progress: Progress,
            logdir: Path, generator: Path | None = None) -> dict[str, Any]:
    """Start the server, run the load generator once against it, stop both."""
    if case.scenario == CLUSTER:
        return run_cluster(spec, case, progress, logdir, generator)
    server_cpus, loadgen_cpus = procs.cores()
    if not spec.pinned:  # workers: they and the load generator share every core
        server_cpus = loadgen_cpus = server_cpus | loadgen_cpus
    port = procs.free_port()
    log_path = logdir / f"{spec.name}.log"
    with log_path.open("ab") as server_log:
        offset = server_log.tell()
        server = procs.start(spec.argv(port), server_cpus, stdout=server_log, stderr=server_log)
    try:
        procs.wait_listening(port, server)
        if spec.ready:
            procs.wait_log(log_path, offset, spec.ready, server)
        params = {
            **case.params, "scenario": case.scenario, "url": f"http://{procs.HOST}:{port}",
            "pid": server.pid, "client": client, "clk_tck": os.sysconf("SC_CLK_TCK"),
            "deadline_ms": int(case.deadline_s * 1000),
        }
        argv = ["node", LOADGEN, json.dumps(params)]
        if (generator is not None and client == "lean" and case.scenario in (FANOUT, OVERLOAD)
                and params.get("transport", "websocket") == "websocket"):
            argv = _c_argv(generator, params, port, server.pid)
        outcome = _drive(argv, case, loadgen_cpus, progress, logdir)
        if not spec.pinned and "result" in outcome:
            # The generator reads the CPU time of the one process it is given (the supervisor
            # or the primary), not of the workers: no CPU figures for these.
            for key in report.PROCESS_CPU_KEYS:
                outcome["result"].pop(key, None)
        # What the kernel says, not what was asked: the report shows where each one ran.
        outcome["server_cpus"] = _affinity(server.pid)
        outcome["loadgen_cpus"] = sorted(loadgen_cpus)
        if server.poll() is not None:
            outcome = {"error": f"server exited with {server.returncode} during the run "
                                f"(see {log_path.name})", **outcome}
        else:
            outcome["server_rss_end"] = procs.rss_bytes(server.pid)
        return outcome
    except Exception as exc:  # one failed run must not end the benchmark
        return {"error": f"{type(exc).__name__}: {exc}"}
    finally:
        procs.stop(server)


def run_cluster(spec: ServerSpec, case: Case, progress: Progress, logdir: Path,
                generator: Path | None) -> dict[str, Any]:
    """Start two nodes of ``spec`` on one Redis (a key prefix of their own), both on the
    server core; the C generator puts N receivers on node B and the publisher on node A."""
    generator = generator or procs.c_loadgen()[0]  # with --generator node too
    if generator is None:
        return {"error": "the cluster case needs the C generator (gcc)"}
    server_cpus, loadgen_cpus = procs.cores()
    prefix = f"bench-{uuid.uuid4().hex[:12]}"
    ports = [procs.free_port() for _ in range(CLUSTER_NODES)]
    while len(set(ports)) < CLUSTER_NODES:
        ports[-1] = procs.free_port()
    redis_pid = procs.redis_pid(procs.redis_info())
    try:
        node_a, node_b = start_nodes([spec.node_argv(p, REDIS_URL, prefix) for p in ports], ports,
                                     server_cpus, logdir / f"{spec.name}.log")
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}
    try:
        params = {**case.params, "scenario": case.scenario,
                  "clk_tck": os.sysconf("SC_CLK_TCK")}
        argv = _c_argv(generator, params, ports[1], node_b.pid,
                       PublisherNode(ports[0], node_a.pid, redis_pid))
        outcome = _drive(argv, case, loadgen_cpus, progress, logdir)
        outcome["server_cpus"] = _affinity(node_b.pid)
        outcome["server_cpus_a"] = _affinity(node_a.pid)
        outcome["loadgen_cpus"] = sorted(loadgen_cpus)
        outcome["redis_measured"] = redis_pid != 0
        for label, node in (("A", node_a), ("B", node_b)):
            if node.poll() is not None:
                outcome = {"error": f"node {label} exited with {node.returncode} during the run "
                                    f"(see {spec.name}.log)", **outcome}
        if "error" not in outcome:
            outcome["server_rss_end"] = procs.rss_bytes(node_b.pid)
            outcome["server_rss_end_a"] = procs.rss_bytes(node_a.pid)
        return outcome
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}
    finally:
        procs.stop(node_a)
        procs.stop(node_b)


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "kernel": platform.release(),
           "cores": str(os.cpu_count())}
    try:
        out["node"] = subprocess.run(["node", "--version"], check=False, capture_output=True,
                                     text=True, timeout=10).stdout.strip()
    except OSError:
        out["node"] = "missing"
    from importlib.metadata import PackageNotFoundError, version

    for dist in ("tidings", "python-socketio", "python-engineio", "uvicorn", "uvloop",
                 "websockets", "orjson", "redis", "hiredis", "msgpack"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = "missing"
    for pkg in ("socket.io", "socket.io-client", "@socket.io/redis-adapter", "redis"):
        path = procs.ROOT / "node_modules" / pkg / "package.json"
        out[f"npm:{pkg}" if pkg == "redis" else pkg] = (
            json.loads(path.read_text())["version"] if path.exists() else "missing")
    out["redis-server"] = procs.redis_info().get("redis_version", "not reachable")
    return out


def _cluster_unavailable() -> str:
    """Why the cluster cases cannot run on this machine, or ""."""
    generator, why = procs.c_loadgen()
    if generator is None:
        return f"they need the C generator: {why}"
    if not procs.redis_info():
        return f"no Redis answers at {REDIS_URL}"
    return ""


def _without_cluster_unless_able(spec: ServerSpec) -> tuple[ServerSpec, str]:
    """``spec`` as it is when it can run a cluster node here; else without the cluster
    scenario, and why."""
    reason = spec.cluster_probe() if spec.cluster_probe is not None else "no cluster mode"
    if not reason:
        return spec, ""
    return dataclasses.replace(spec, scenarios=spec.scenarios - {CLUSTER}), reason


def _with_args(argv: Callable[[int], list[str]], *extra: str) -> Callable[[int], list[str]]:
    return lambda port: [*argv(port), *extra]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--quick", action="store_true", help="small sizes, 2 rounds: a couple of minutes")
    p.add_argument("--rounds", type=int, help="rounds (default 3, or 2 with --quick)")
    p.add_argument("--servers",
                   help="comma list of: " + ", ".join(s.name for s in (*SERVERS, *WORKER_SERVERS))
                        + " (default: all but the -wN ones; with --workers, the -wN ones)")
    p.add_argument("--scenarios",
                   help="comma list of: " + ", ".join(ALL_SCENARIOS)
                        + " (default: all; with --workers, fanout,echo)")
    p.add_argument("--workers", action="store_true",
                   help="tidings serve --workers and Node's node:cluster with 1 and 2 workers, "
                        "unpinned (they share both cores with the load generator): the scaling "
                        "factor of each")
    p.add_argument("--fanout-n", help="fan-out sizes, e.g. 1000,5000 (default 1000,5000,10000)")
    p.add_argument("--client", choices=("lean", "official"), default="lean",
                   help="load generator client: lean (default) or the official socket.io-client")
    p.add_argument("--generator", choices=("c", "node"), default="c",
                   help="fan-out and overload load: the C generator (default; compiled with gcc "
                        "on first use) or the Node one")
    p.add_argument("--tidings-loop", choices=("uvloop", "asyncio"), default="uvloop",
                   help="event loop of the tidings server (default uvloop)")
    p.add_argument("--baseline", metavar="DIR",
                   help="also run tidings from another checkout as 'tidings-base' (e.g. a second "
                        "work tree at an earlier commit), interleaved with this one")
    p.add_argument("--no-setup", action="store_true", help="skip pip/npm installs")
    p.add_argument("--out", type=Path, help="JSON results path (default bench/results/<time>.json)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    progress = Progress()
    if not args.no_setup:
        for problem in setup_env.ensure(progress.log):
            progress.log(f"setup: {problem}")
    nofile = procs.raise_nofile()
    server_cpus, loadgen_cpus = procs.cores()
    os.sched_setaffinity(0, loadgen_cpus)  # the runner stays off the server's core
    if server_cpus == loadgen_cpus:
        progress.log("warning: one core only, server and load generator share it")
    generator: Path | None = None
    if args.generator == "c":
        generator, why = procs.c_loadgen()
        if generator is None:
            progress.log(f"warning: {why}; fan-out load from the Node generator instead")
    default_servers = WORKER_SERVERS if args.workers else SERVERS
    wanted = [s.strip() for s in (args.servers or ",".join(s.name for s in default_servers))
              .split(",") if s.strip()]
    default_scenarios = sorted(WORKER_SCENARIOS) if args.workers else ALL_SCENARIOS
    scenarios = {s.strip() for s in (args.scenarios or ",".join(default_scenarios)).split(",")
                 if s.strip()}
    sizes = [int(n) for n in args.fanout_n.split(",")] if args.fanout_n else None
    unknown = scenarios - set(ALL_SCENARIOS)
    if unknown:
        progress.log(f"unknown scenario(s): {', '.join(sorted(unknown))}")
        return 2
    if CLUSTER in scenarios:
        why_not = _cluster_unavailable()
        if why_not:
            progress.log(f"skipping the cluster cases: {why_not}")
            scenarios.discard(CLUSTER)
    all_cases = [c for c in cases(args.quick, sizes) if c.scenario in scenarios]
    rounds = args.rounds or (2 if args.quick else 3)
    biggest = max([c.params.get("n", 0) for c in all_cases] + [0])
    if biggest + 100 > nofile[0]:
        progress.log(f"warning: open-files limit {nofile[0]} is below {biggest} clients")
    if biggest > procs.ephemeral_ports():
        progress.log(f"warning: {procs.ephemeral_ports()} ephemeral ports for {biggest} clients")

    servers: list[ServerSpec] = []
    skipped: dict[str, str] = {}
    specs = [*SERVERS, *WORKER_SERVERS]
    if args.baseline:
        specs.append(baseline_spec(str(Path(args.baseline).resolve())))
        wanted.append("tidings-base")
    for spec in specs:
        if spec.name not in wanted:
            continue
        if spec.name.startswith("tidings") and args.tidings_loop != "uvloop":
            spec = dataclasses.replace(
                spec, argv=_with_args(spec.argv, "--loop", args.tidings_loop),
                note=f"built-in server, {args.tidings_loop} loop")
        reason = spec.probe()
        if reason:
            skipped[spec.name] = reason
            progress.log(f"skipping {spec.name}: {reason}")
            continue
        if CLUSTER in scenarios and CLUSTER in spec.scenarios:
            spec, reason = _without_cluster_unless_able(spec)
            if reason:
                skipped[f"{spec.name} ({CLUSTER})"] = reason
                progress.log(f"skipping {spec.name} in the cluster cases: {reason}")
        servers.append(spec)
    if not servers:
        progress.log("no server can run")
        return 2

    stamp = time.strftime("%Y%m%d-%H%M%S")
    out_path = args.out or procs.ROOT / "bench" / "results" / f"{stamp}.json"
    out_path.parent.mkdir(parents=True, exist_ok=True)
    logdir = out_path.parent / "logs" / stamp
    logdir.mkdir(parents=True, exist_ok=True)
    runs: list[dict[str, Any]] = []
    meta = {"started": stamp, "quick": args.quick, "rounds": rounds, "client": args.client,
            "nofile": nofile[0],
            "fanout_generator": "c" if generator is not None else "node", "pinning": {"server": sorted(server_cpus),
                                             "loadgen": sorted(loadgen_cpus)},
            "versions": _versions(), "skipped": skipped,
            "loadavg_start": list(os.getloadavg()),
            "servers": {s.name: s.note for s in servers}}
    interrupted = False
    with procs.stopping_all():
        try:
            for rnd in range(1, rounds + 1):
                for case in all_cases:
                    order = [s for s in servers if case.scenario in s.scenarios]
                    random.Random(f"{stamp}/{rnd}/{case.key}").shuffle(order)  # interleaved
                    for spec in order:
                        progress.set(f"round {rnd}/{rounds} · {case.key} · {spec.name} ·")
                        outcome = run_one(spec, case, args.client, progress, logdir,
                                          generator)
                        if "error" in outcome:  # stack traces: no machine paths in the JSON
                            outcome["error"] = outcome["error"].replace(f"{procs.ROOT}/", "")
                        runs.append({"round": rnd, "case": case.key, "scenario": case.scenario,
                                     "server": spec.name, "params": case.params, **outcome})
                        if "error" in outcome:
                            progress.log(f"  {case.key} / {spec.name}: "
                                         f"{outcome['error'].splitlines()[0][:160]}")
        except KeyboardInterrupt:
            interrupted = True
            progress.log("interrupted: stopping every process, keeping what was measured")
    progress.done()

    meds = report.medians(runs)
    names = [s.name for s in servers]
    case_order = [(c.key, c.scenario) for c in all_cases]
    goals = report.goals(meds) if any(s.pinned for s in servers) else []
    ran_cluster = any(c.scenario == CLUSTER for c in all_cases)
    cluster_goals = report.cluster_goals(meds) if ran_cluster else []
    scaling = report.scaling(meds)
    out_path.write_text(json.dumps({
        "meta": {**meta, "interrupted": interrupted, "loadavg_end": list(os.getloadavg())},
        "runs": runs, "medians": meds,
        "scaling": scaling,
        "goals": [{"goal": g.text, "status": g.status, "detail": g.detail}
                  for g in goals + cluster_goals],
    }, indent=1))
    pinning = (f"server on core {sorted(server_cpus)}, load generator on {sorted(loadgen_cpus)}"
               if any(s.pinned for s in servers) else "")
    if not all(s.pinned for s in servers):
        pinning += ("; " if pinning else "") + (
            "the -wN servers unpinned: their workers and the load generator share every core")
    print(f"Medians over {rounds} round(s), client={args.client}; {pinning}")
    print(report.table(runs, meds, names, case_order))
    if goals:
        print("\nGoals (issue 'Benchmarks side by side', tidings vs the others in this run):")
        print(report.goals_text(goals))
    if cluster_goals:
        print("\nGoals (cluster issue: cross-node fan-out, tidings+tidings vs Node+Node):")
        print(report.goals_text(cluster_goals))
    if scaling:
        print("\nScaling with workers (2 workers / 1 worker, the load generator on the same cores):")
        print(report.scaling_text(scaling))
    print(f"\nJSON: {out_path.relative_to(procs.ROOT) if out_path.is_relative_to(procs.ROOT) else out_path}")
    return 130 if interrupted else 0
