"""bench.deflate: the servers' command lines, the table with its ratios, Node's --deflate
(and its default, which bench/run relies on), and one small run against each server."""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
from collections.abc import Iterator

import pytest

from bench import deflate, procs


def test_server_argv_adds_deflate_only_when_asked() -> None:
    tidings = deflate.server_argv("tidings", 4321, False)
    assert tidings[1:] == ["-m", "bench.servers.tidings_app", "--port", "4321"]
    assert deflate.server_argv("tidings", 4321, True) == [*tidings, "--deflate"]
    node = deflate.server_argv("node", 4321, False)
    assert node == ["node", "bench/servers/node_app.cjs", "--port", "4321"]
    assert deflate.server_argv("node", 4321, True) == [*node, "--deflate"]
    assert (procs.ROOT / node[1]).exists()
    with pytest.raises(ValueError):
        deflate.server_argv("psio", 4321, True)


def _result(rate: float, cpu: float, wire: float) -> dict[str, float]:
    return {"deliveries_per_s": rate, "server_cpu_us_per_delivery": cpu,
            "wire_bytes_per_delivery": wire, "payload_bytes": 2328.0}


def test_table_has_the_ratio_tidings_over_node_per_mode() -> None:
    results: deflate.Results = {
        "node": {"off": [_result(50_000, 20.0, 2330)],
                 "shared": [_result(10_000, 90.0, 375), _result(12_000, 80.0, 375),
                            _result(11_000, 85.0, 375)]},
        "tidings": {"off": [_result(40_000, 10.0, 2330)], "shared": [_result(80_000, 8.5, 375)]},
    }
    meds = deflate.medians(results)
    assert meds["node"]["shared"]["deliveries_per_s"] == 11_000
    lines = deflate.table(meds, ["node", "tidings"], ["off", "shared"]).splitlines()
    assert lines[1].split()[:2] == ["off", "tidings"]  # tidings first whatever the order given
    assert lines[2].split()[0] == "node"
    assert lines[3].split() == ["tidings/node", "0.80", "0.50", "1.00"]
    assert lines[6].split() == ["tidings/node", "7.27", "0.10", "1.00"]


def test_table_shows_a_failed_run_and_no_ratio_for_it() -> None:
    meds = deflate.medians({"tidings": {"takeover": [_result(20_000, 40.0, 300)]},
                            "node": {"takeover": []}})
    text = deflate.table(meds, ["tidings", "node"], ["takeover"],
                         {("node", "takeover"): "RuntimeError: server exited with 1"})
    assert "node          failed: RuntimeError: server exited with 1" in text
    assert "tidings/node" not in text
    alone = deflate.table(meds, ["tidings"], ["takeover"]).splitlines()
    assert len(alone) == 2


@pytest.fixture
def node_servers() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    try:
        yield started
    finally:
        for proc in started:
            procs.stop(proc)


async def _extensions(port: int, offer: str) -> str:
    """The Sec-WebSocket-Extensions the server answers an upgrade offering ``offer`` with."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        f"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\n"
        f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        f"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Extensions: {offer}\r\n\r\n".encode())
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
    writer.close()
    await writer.wait_closed()
    assert head.startswith("HTTP/1.1 101")
    return "".join(line.split(":", 1)[1].strip() for line in head.split("\r\n")
                   if line.lower().startswith("sec-websocket-extensions:"))


async def test_node_app_accepts_deflate_only_with_the_flag(
        node_bin: str, node_servers: list[subprocess.Popen[bytes]]) -> None:
    cpus = procs.cores()[0]
    ports = [procs.free_port(), procs.free_port()]
    for port, flag in zip(ports, (False, True), strict=True):
        node_servers.append(procs.start(deflate.server_argv("node", port, flag), cpus,
                                        stdout=subprocess.DEVNULL))
    for port, proc in zip(ports, node_servers, strict=True):
        procs.wait_listening(port, proc)
    plain, with_flag = ports
    assert await _extensions(plain, deflate.MODES["takeover"] or "") == ""  # bench/run's default
    assert await _extensions(with_flag, deflate.MODES["takeover"] or "") == "permessage-deflate"
    shared = await _extensions(with_flag, deflate.MODES["shared"] or "")
    assert shared == "permessage-deflate; server_no_context_takeover"


@pytest.mark.parametrize("server", ["node", "tidings"])
async def test_a_small_shared_run_compresses_and_stays_on_the_server_core(
        server: str, request: pytest.FixtureRequest) -> None:
    """On the tests' loop (uvloop by default), where the benchmark itself runs on asyncio's."""
    if server == "node":
        request.getfixturevalue("node_bin")  # fails with a hint when Node is missing
    cpus = procs.cores()[0]
    result = await deflate.run_mode(server, "shared", 3, 2, 2048, cpus, warmup=1)
    assert result["deliveries_per_s"] > 0
    assert result["server_cpu_us_per_delivery"] > 0
    assert 100 < result["wire_bytes_per_delivery"] < result["payload_bytes"] / 2
