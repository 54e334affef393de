"""The Node load generator's lean client against the floor: a small fan-out and echo."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def floor_port() -> tuple[int, int]:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "bench.servers.floor", "--port", str(port),
                             "--loop", "asyncio"], cwd=ROOT, stdout=subprocess.PIPE)
    assert proc.stdout is not None
    assert proc.stdout.readline().startswith(b"READY")
    yield port, proc.pid
    proc.terminate()
    proc.wait(10)


def loadgen(node_bin: str, params: dict[str, object]) -> dict[str, float]:
    done = subprocess.run([node_bin, "bench/loadgen/loadgen.cjs", json.dumps(params)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=False)
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    final = lines[-1]
    assert final["type"] == "result", final
    return final["result"]


@pytest.mark.timeout(90)
def test_fanout_and_echo_against_floor(node_bin: str, floor_port: tuple[int, int]) -> None:
    port, pid = floor_port
    base = {"url": f"http://127.0.0.1:{port}", "pid": pid, "clk_tck": os.sysconf("SC_CLK_TCK")}
    fan = loadgen(node_bin, {**base, "scenario": "fanout", "n": 20, "publishes": 5, "warmup": 1})
    assert fan["delivered"] == 100
    assert fan["lost"] == 0
    assert fan["out_of_order"] == 0
    assert fan["p50_ms"] is not None and fan["p50_ms"] >= 0
    assert fan["server_cpu_sched_s"] > 0 or fan["server_cpu_s"] >= 0
    echo = loadgen(node_bin, {**base, "scenario": "echo", "clients": 5, "duration_ms": 300,
                              "warmup_ms": 100})
    assert echo["round_trips"] > 0
    assert echo["bad_replies"] == 0
