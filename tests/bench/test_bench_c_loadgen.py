"""The C fan-out generator against the floor, and beside the Node one on the same server."""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

import pytest

from bench import procs
from bench.runner import _c_argv
from tests.bench.test_bench_loadgen import ROOT, floor_port  # noqa: F401  (fixture)


def run_c(params: dict[str, Any], port: int, pid: int) -> dict[str, Any]:
    generator, why = procs.c_loadgen()
    assert generator is not None, why  # gcc is part of the machine the tests set up
    argv = _c_argv(generator, {**params, "clk_tck": os.sysconf("SC_CLK_TCK")}, port, pid)
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert lines and lines[-1]["type"] == "result", (lines[-1:], done.stderr)
    assert any(line["type"] == "progress" for line in lines[:-1]) or len(lines) == 1
    result: dict[str, Any] = lines[-1]["result"]
    return result


@pytest.mark.timeout(90)
def test_fanout_counts_every_delivery_in_order(floor_port: tuple[int, int]) -> None:  # noqa: F811
    port, pid = floor_port
    fan = run_c({"scenario": "fanout", "n": 30, "publishes": 5, "warmup": 2}, port, pid)
    assert fan["generator"] == "c"
    assert fan["delivered"] == 150
    assert fan["lost"] == 0
    assert fan["out_of_order"] == 0
    assert 0 <= fan["p50_ms"] <= fan["p99_ms"] <= fan["max_ms"]
    assert fan["server_cpu_sched_s"] > 0 or fan["server_cpu_s"] >= 0
    assert fan["deliveries_per_s"] > 0


@pytest.mark.timeout(90)
def test_overload_offers_the_rate_and_drains(floor_port: tuple[int, int]) -> None:  # noqa: F811
    port, pid = floor_port
    over = run_c({"scenario": "overload", "n": 20, "publishes": 20, "rate": 100,
                  "drain_timeout_ms": 10_000}, port, pid)
    assert over["delivered"] == 400
    assert over["lost"] == 0
    assert 50 <= over["publish_rate_achieved"] <= 150
