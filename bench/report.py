"""Medians over rounds, the table with ratios, and the issue's goals checked against them."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from itertools import combinations
from typing import Any

from bench.scenarios import BINARY, CLUSTER, CONNECT, ECHO, FANOUT, OVERLOAD, POLLING

Medians = dict[str, dict[str, dict[str, float]]]  # case key -> server -> metric -> median


@dataclass(frozen=True, slots=True)
class Metric:
    key: str
    label: str
    better: str  # "higher", "lower" or "" (informative only)
    ratio: bool = False  # print the ratio of each server to the others
    scale: float = 1.0


_LAT = (Metric("p50_ms", "latency p50 ms", "lower"), Metric("p99_ms", "latency p99 ms", "lower"),
        Metric("max_ms", "latency max ms", "lower"))
_GEN = (Metric("loadgen_util", "load generator core use", ""),
        Metric("server_util", "server core use", ""),
        Metric("other_load", "other load on machine (cores)", ""))
_FAN = (Metric("deliveries_per_s", "deliveries/s", "higher", True), *_LAT,
        Metric("lost", "lost messages", "lower"),
        Metric("cpu_us_per_delivery", "server CPU us/delivery", "lower", True),
        Metric("user_us_per_delivery", "  of which user space (ticks)", ""),
        Metric("sys_us_per_delivery", "  of which kernel (ticks)", ""), *_GEN)
_CLUSTER = (Metric("deliveries_per_s", "deliveries/s", "higher", True), *_LAT,
            Metric("lost", "lost messages", "lower"),
            Metric("cpu_us_per_delivery", "server CPU us/delivery, A+B", "lower", True),
            Metric("cpu_us_per_delivery_a", "  node A (publisher)", "lower", True),
            Metric("cpu_us_per_delivery_b", "  node B (receivers)", "lower", True),
            Metric("user_us_per_delivery", "  A+B user space (ticks)", ""),
            Metric("sys_us_per_delivery", "  A+B kernel (ticks)", ""),
            Metric("redis_us_per_delivery", "Redis CPU us/delivery (unpinned)", ""),
            Metric("redis_util", "Redis core use", ""),
            Metric("loadgen_util", "load generator core use", ""),
            Metric("server_util", "server core use (A+B)", ""),
            Metric("other_load", "other load on machine (cores)", ""))
METRICS: dict[str, tuple[Metric, ...]] = {
    FANOUT: _FAN,
    POLLING: _FAN,
    OVERLOAD: (*_FAN, Metric("publish_rate_achieved", "publishes/s offered", "")),
    ECHO: (Metric("round_trips_per_s", "round trips/s", "higher", True), *_LAT,
           Metric("cpu_us_per_round_trip", "server CPU us/round trip", "lower", True), *_GEN),
    BINARY: (Metric("round_trips_per_s", "round trips/s", "higher", True),
             Metric("mib_per_s", "MiB/s (one way)", "higher"), *_LAT,
             Metric("cpu_us_per_round_trip", "server CPU us/round trip", "lower", True), *_GEN),
    CONNECT: (Metric("connections_per_s", "connections/s", "higher", True),
              Metric("bytes_per_idle_connection", "KB per idle connection", "lower", True, 1e-3),
              Metric("cpu_us_per_connection", "server CPU us/connection", "lower"), *_GEN),
    CLUSTER: _CLUSTER,
}


PROCESS_CPU_KEYS = ("cpu_us_per_delivery", "user_us_per_delivery", "sys_us_per_delivery",
                    "cpu_us_per_round_trip", "server_util", "other_load")
"""Figures read from one server process's CPU time: wrong for a server of several worker
processes (``other_load``, the machine's busy time less the server's, would count them)."""
HEADLINE = {FANOUT: "deliveries_per_s", ECHO: "round_trips_per_s"}


def scaling(meds: Medians) -> list[dict[str, Any]]:
    """For each case and server family run with 1 and 2 workers: the headline figure of each
    and their ratio (2 workers / 1)."""
    out: list[dict[str, Any]] = []
    for case_key, servers in meds.items():
        scenario = case_key.split(" ")[0]
        metric = HEADLINE.get(scenario)
        if metric is None:
            continue
        for family in sorted({s.rsplit("-w", 1)[0] for s in servers if "-w" in s}):
            one = servers.get(f"{family}-w1", {}).get(metric)
            two = servers.get(f"{family}-w2", {}).get(metric)
            if one and two is not None:
                out.append({"case": case_key, "server": family, "metric": metric,
                            "w1": one, "w2": two, "factor": two / one})
    return out


def scaling_text(items: list[dict[str, Any]]) -> str:
    return "\n".join(
        f"  {i['case']:<18} {i['server']:<8} {i['metric']}: {_fmt(i['w1'])} -> {_fmt(i['w2'])}"
        f"  x{i['factor']:.2f}" for i in items)


def medians(runs: list[dict[str, Any]]) -> Medians:
    grouped: dict[str, dict[str, dict[str, list[float]]]] = {}
    for run in runs:
        result = run.get("result")
        if not result:
            continue
        per_metric = grouped.setdefault(run["case"], {}).setdefault(run["server"], {})
        for metric in METRICS[run["scenario"]]:
            value = result.get(metric.key)
            if isinstance(value, int | float):
                per_metric.setdefault(metric.key, []).append(float(value))
    return {case: {server: {k: statistics.median(v) for k, v in metrics.items()}
                   for server, metrics in servers.items()}
            for case, servers in grouped.items()}


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def table(runs: list[dict[str, Any]], meds: Medians, order: list[str],
          case_order: list[tuple[str, str]]) -> str:
    """Medians per case and server; below each headline metric, every pairwise ratio."""
    lines: list[str] = []
    width = 34
    for case_key, scenario in case_order:
        servers = [s for s in order if s in meds.get(case_key, {})]
        failed = sorted({r["server"] for r in runs if r["case"] == case_key and r.get("error")})
        if not servers and not failed:
            continue
        counts = {s: sum(1 for r in runs if r["case"] == case_key and r["server"] == s
                         and r.get("result")) for s in servers}
        lines.append("")
        lines.append(f"{case_key:<{width}}" + "".join(f"{s:>12}" for s in servers))
        lines.append(f"{'  (rounds measured)':<{width}}" + "".join(f"{counts[s]:>12}" for s in servers))
        for metric in METRICS[scenario]:
            values = [meds[case_key][s].get(metric.key) for s in servers]
            if all(v is None for v in values):
                continue
            shown = [None if v is None else v * metric.scale for v in values]
            lines.append(f"  {metric.label:<{width - 2}}" + "".join(f"{_fmt(v):>12}" for v in shown))
            if metric.ratio and len(servers) > 1:
                pairs = []
                for a, b in combinations(servers, 2):
                    va, vb = meds[case_key][a].get(metric.key), meds[case_key][b].get(metric.key)
                    if va is not None and vb:
                        pairs.append(f"{a}/{b} {va / vb:.2f}")
                lines.append(f"    ratios: {', '.join(pairs)}")
        if failed:
            errors = {r["server"]: r["error"].splitlines()[0][:90] for r in runs
                      if r["case"] == case_key and r.get("error")}
            for server in failed:
                lines.append(f"  ! {server} failed: {errors[server]}")
    return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class Goal:
    text: str
    status: str  # "met", "NOT met", "n/a"
    detail: str


def _get(meds: Medians, case_prefix: str, server: str, key: str) -> float | None:
    for case_key, servers in meds.items():
        if case_key.startswith(case_prefix) and server in servers:
            return servers[server].get(key)
    return None


def _check(text: str, checks: list[tuple[float | None, str, float | None]], detail: str) -> Goal:
    """A goal is met when every (value, op, bound) holds; n/a when a value is missing."""
    if any(v is None or b is None for v, _, b in checks):
        return Goal(text, "n/a", "not measured in this run")
    ops = {"<=": lambda v, b: v <= b, ">=": lambda v, b: v >= b, "<": lambda v, b: v < b,
           "==": lambda v, b: v == b}
    ok = all(ops[op](v, b) for v, op, b in checks)
    return Goal(text, "met" if ok else "NOT met", detail)


def _times(k: float, v: float | None) -> float | None:
    return None if v is None else k * v


def goals(meds: Medians, subject: str = "tidings") -> list[Goal]:
    """The issue's targets, read from the medians of this run (ratios in one run)."""
    def g(case: str, server: str, key: str) -> float | None:
        return _get(meds, case, server, key)

    out: list[Goal] = []
    fan_cases = sorted((k for k in meds if k.startswith("fanout n=")),
                       key=lambda k: int(k.split("=")[1]))
    for c in fan_cases:
        n = int(c.split("=")[1])
        cpu, floor = g(c, subject, "cpu_us_per_delivery"), g(c, "floor", "cpu_us_per_delivery")
        if n <= 5000:
            out.append(_check(f"{c}: CPU/delivery <= 1.25 x floor", [(cpu, "<=", _times(1.25, floor))],
                              f"{_fmt(cpu)} vs floor {_fmt(floor)} us"))
        rate, p99, lost = (g(c, subject, k) for k in ("deliveries_per_s", "p99_ms", "lost"))
        nrate, np99 = g(c, "node", "deliveries_per_s"), g(c, "node", "p99_ms")
        out.append(_check(f"{c}: deliveries/s >= node, p99 <= node, nothing lost",
                          [(rate, ">=", nrate), (p99, "<=", np99), (lost, "==", 0.0)],
                          f"{_fmt(rate)}/s p99 {_fmt(p99)} ms lost {_fmt(lost)} vs node "
                          f"{_fmt(nrate)}/s p99 {_fmt(np99)} ms"))
        if n >= 10000:
            out.append(_check(f"{c}: p99 < 100 ms, nothing lost",
                              [(p99, "<", 100.0), (lost, "==", 0.0)],
                              f"p99 {_fmt(p99)} ms, lost {_fmt(lost)}"))
    cpu, p50 = g("overload", subject, "cpu_us_per_delivery"), g("overload", subject, "p50_ms")
    out.append(_check("overload: CPU/delivery <= 4 us, median latency in milliseconds",
                      [(cpu, "<=", 4.0), (p50, "<", 100.0)],
                      f"{_fmt(cpu)} us (floor-co {_fmt(g('overload', 'floor-co', 'cpu_us_per_delivery'))}"
                      f"), p50 {_fmt(p50)} ms"))
    rt, nrt = g("echo", subject, "round_trips_per_s"), g("echo", "node", "round_trips_per_s")
    out.append(_check("echo: round trips/s >= 1.25 x node", [(rt, ">=", _times(1.25, nrt))],
                      f"{_fmt(rt)} vs node {_fmt(nrt)}"))
    cps, ncps = g("connect", subject, "connections_per_s"), g("connect", "node", "connections_per_s")
    out.append(_check("connect: connections/s >= 1.5 x node", [(cps, ">=", _times(1.5, ncps))],
                      f"{_fmt(cps)} vs node {_fmt(ncps)}"))
    mem = g("connect", subject, "bytes_per_idle_connection")
    out.append(_check("memory per idle connection <= 4 KB", [(mem, "<=", 4096.0)],
                      f"{_fmt(mem)} bytes"))
    bt, pbt = g("binary", subject, "round_trips_per_s"), g("binary", "psio", "round_trips_per_s")
    out.append(_check("binary echo: throughput >= 1.5 x psio", [(bt, ">=", _times(1.5, pbt))],
                      f"{_fmt(g('binary', subject, 'mib_per_s'))} vs psio "
                      f"{_fmt(g('binary', 'psio', 'mib_per_s'))} MiB/s"))
    return out


def cluster_goals(meds: Medians, subject: str = "tidings") -> list[Goal]:
    """The cluster issue's target for each cross-node fan-out size: at least Node's
    deliveries/s, at most 0.8 x its server CPU per delivery (nodes A and B summed),
    nothing lost."""
    out: list[Goal] = []
    for c in sorted((k for k in meds if k.startswith(f"{CLUSTER} n=")),
                    key=lambda k: int(k.split("=")[1])):
        rate, cpu, lost = (_get(meds, c, subject, k)
                           for k in ("deliveries_per_s", "cpu_us_per_delivery", "lost"))
        nrate, ncpu = (_get(meds, c, "node", k) for k in ("deliveries_per_s", "cpu_us_per_delivery"))
        out.append(_check(
            f"{c}: deliveries/s >= node, CPU/delivery (A+B) <= 0.8 x node, nothing lost",
            [(rate, ">=", nrate), (cpu, "<=", _times(0.8, ncpu)), (lost, "==", 0.0)],
            f"{_fmt(rate)}/s {_fmt(cpu)} us lost {_fmt(lost)} vs node {_fmt(nrate)}/s "
            f"{_fmt(ncpu)} us"))
    return out


def goals_text(items: list[Goal]) -> str:
    return "\n".join(f"  [{g.status:>7}] {g.text}: {g.detail}" for g in items)
