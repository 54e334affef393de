"""The cross-node fan-out: its cases, the generator's command line, two nodes started and
stopped together, and a small run of two Node nodes on the machine's Redis."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench import procs, runner
from bench.runner import PublisherNode, _c_argv, start_nodes
from bench.scenarios import (
    CLUSTER,
    REDIS_URL,
    SERVERS,
    SINGLE_SERVER,
    Case,
    ServerSpec,
    baseline_spec,
    cases,
    cluster_cases,
)

SPECS = {spec.name: spec for spec in SERVERS}


def test_cluster_cases_are_added_after_the_single_server_ones() -> None:
    full = cases(False)
    assert [c.key for c in full if c.scenario == CLUSTER] == ["cluster n=1000", "cluster n=5000"]
    assert all(c.scenario in SINGLE_SERVER for c in full[: len(full) - 2])
    assert [c.key for c in cases(True, [200]) if c.scenario == CLUSTER] == ["cluster n=200"]
    big = cluster_cases(False, [5000])[0]
    assert big.params == {"n": 5000, "publishes": 60, "publish_timeout_ms": 20_000}


def test_only_tidings_and_node_run_as_cluster_nodes() -> None:
    able = {spec.name for spec in SERVERS if CLUSTER in spec.scenarios}
    assert able == {"tidings", "node"}
    assert CLUSTER not in baseline_spec("/nonexistent").scenarios
    assert all(SPECS[name].cluster_probe is not None for name in able)


@pytest.mark.parametrize("name", ["tidings", "node"])
def test_node_argv_adds_the_redis_adapter_options(name: str) -> None:
    argv = SPECS[name].node_argv(4321, REDIS_URL, "bench-x")
    assert argv[:len(SPECS[name].argv(4321))] == SPECS[name].argv(4321)
    assert argv[-4:] == ["--redis", REDIS_URL, "--redis-key", "bench-x"]


def test_c_argv_appends_the_publisher_node_only_for_a_cluster() -> None:
    params = {"scenario": "fanout", "n": 10, "publishes": 3, "clk_tck": 100}
    single = _c_argv(Path("gen"), params, 1000, 11)
    assert len(single) == 13
    cluster = _c_argv(Path("gen"), {**params, "scenario": CLUSTER}, 1000, 11,
                      PublisherNode(2000, 22, 33))
    assert cluster[:13] == [single[0], CLUSTER, *single[2:]]
    assert cluster[13:] == ["2000", "22", "33"]


def test_a_spec_whose_cluster_probe_fails_loses_only_the_cluster_scenario() -> None:
    spec = ServerSpec("x", lambda port: [], frozenset({"fanout", CLUSTER}), lambda: None,
                      cluster_probe=lambda: "no adapter")
    without, why = runner._without_cluster_unless_able(spec)
    assert why == "no adapter"
    assert without.scenarios == frozenset({"fanout"})
    able = ServerSpec("y", lambda port: [], frozenset({CLUSTER}), lambda: None,
                      cluster_probe=lambda: None)
    assert runner._without_cluster_unless_able(able) == (able, "")


def _floor(port: int) -> list[str]:
    return [sys.executable, "-m", "bench.servers.floor", "--port", str(port), "--loop", "asyncio"]


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.mark.timeout(60)
def test_start_nodes_starts_both_pinned_and_listening(tmp_path: Path) -> None:
    ports = [procs.free_port(), procs.free_port()]
    server_cpus = procs.cores()[0]
    nodes = start_nodes([_floor(p) for p in ports], ports, server_cpus, tmp_path / "log")
    try:
        for node, port in zip(nodes, ports, strict=True):
            assert node.poll() is None
            assert set(os.sched_getaffinity(node.pid)) == set(server_cpus)
            with socket.create_connection((procs.HOST, port), timeout=5):
                pass
    finally:
        for node in nodes:
            procs.stop(node)
    assert all(node.poll() is not None for node in nodes)


@pytest.mark.timeout(60)
def test_start_nodes_stops_the_first_when_the_second_fails(tmp_path: Path) -> None:
    ports = [procs.free_port(), procs.free_port()]
    before = set(procs._started)
    pids: list[int] = []
    real_start = procs.start

    def recording_start(*args: Any, **kwargs: Any) -> subprocess.Popen[bytes]:
        proc = real_start(*args, **kwargs)
        pids.append(proc.pid)
        return proc

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(procs, "start", recording_start)
        with pytest.raises(RuntimeError, match="exited with 3"):
            start_nodes([_floor(ports[0]), [sys.executable, "-c", "raise SystemExit(3)"]], ports,
                        procs.cores()[0], tmp_path / "log")
    assert len(pids) == 2
    assert all(_gone(pid) for pid in pids)
    assert set(procs._started) == before


class FakeRedis:
    """Answers one INFO with a bulk string, as Redis does."""

    def __init__(self, body: bytes) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.body = body
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        conn, _ = self.sock.accept()
        with conn:
            assert conn.recv(100).startswith(b"INFO ")
            reply = b"$%d\r\n%s\r\n" % (len(self.body), self.body)
            for i in range(0, len(reply), 7):  # in pieces: the reader must wait for all of it
                conn.sendall(reply[i:i + 7])


@pytest.fixture
def fake_redis() -> Iterator[FakeRedis]:
    server = FakeRedis(b"# Server\r\nredis_version:7.0.15\r\nprocess_id:%d\r\n" % os.getpid())
    yield server
    server.thread.join(5)
    server.sock.close()


def test_redis_info_reads_the_whole_bulk_reply(fake_redis: FakeRedis) -> None:
    info = procs.redis_info(port=fake_redis.port)
    assert info["redis_version"] == "7.0.15"
    assert info["process_id"] == str(os.getpid())
    # a PID that is not a redis-server (this test) is not measured as Redis
    assert procs.redis_pid(info) == 0


def test_redis_info_is_empty_when_nothing_answers() -> None:
    assert procs.redis_info(port=procs.free_port()) == {}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", ["tidings", "node"])
def test_two_node_cluster_delivers_every_message_across_nodes(tmp_path: Path, node_bin: str,
                                                               name: str) -> None:
    """Node A gets the publisher, node B the receivers: every publish crosses Redis."""
    assert procs.redis_info(), f"no Redis at {REDIS_URL}"
    spec = SPECS[name]
    assert spec.cluster_probe is not None and spec.cluster_probe() is None
    before = set(procs._started)
    case = Case("cluster n=20", CLUSTER, {"n": 20, "publishes": 5, "warmup": 2}, deadline_s=60)
    outcome = runner.run_cluster(spec, case, runner.Progress(), tmp_path, None)
    assert set(procs._started) == before  # both nodes and the generator stopped
    assert "error" not in outcome, outcome
    assert outcome["server_cpus"] == outcome["server_cpus_a"] == sorted(procs.cores()[0])
    result = outcome["result"]
    assert result["delivered"] == 100
    assert result["lost"] == 0
    assert result["out_of_order"] == 0
    assert result["cpu_us_per_delivery_a"] > 0  # node A encoded and published every message
    assert result["cpu_us_per_delivery_b"] > 0
    assert result["cpu_us_per_delivery"] == pytest.approx(
        result["cpu_us_per_delivery_a"] + result["cpu_us_per_delivery_b"], abs=1e-3)
    assert "redis_us_per_delivery" in result
