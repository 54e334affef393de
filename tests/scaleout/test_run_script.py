"""``examples/cluster/run``: one command starts three chat nodes and nginx, SIGTERM stops them all."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import re
import signal
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from tests.e2e.harness import NodeClient

from .harness import HOST, REPO_ROOT, free_port

pytestmark = pytest.mark.timeout(90)

RUN = REPO_ROOT / "examples" / "cluster" / "run"


def listening(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=1):
        return True
    return False


def bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((HOST, port))
        except OSError:
            return False
        return True


def free_ports_in_a_row(count: int) -> int:
    """The first of ``count`` consecutive free ports, below the ephemeral range (where
    outgoing connections would take ports from under the nodes)."""
    for _ in range(200):
        base = random.randrange(20_000, 32_000)
        if all(bindable(base + i) for i in range(count)):
            return base
    raise AssertionError("no free ports in a row")


async def test_run_starts_the_cluster_and_stops_it_on_sigterm(
    nginx_bin: str, services: tuple[str, str], prefix: str, tmp_path: Path,
    start_client: Callable[[], Awaitable[NodeClient]],
) -> None:
    redis_url, dsn = services
    port, node_port = free_port(), free_ports_in_a_row(3)
    proc = await asyncio.create_subprocess_exec(
        str(RUN), "--no-setup", "--port", str(port), "--node-port", str(node_port),
        "--redis", redis_url, "--postgres", dsn, "--cluster", prefix,
        cwd=REPO_ROOT,
        env={  # nginx's directory goes under the test's own
            **os.environ, "PATH": f"{os.environ['PATH']}:{os.path.dirname(nginx_bin)}",
            "TMPDIR": str(tmp_path),
        },
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    output: list[str] = []
    try:
        assert proc.stdout is not None
        async with asyncio.timeout(30):
            while not any("the chat: http://" in line for line in output):
                line = (await proc.stdout.readline()).decode(errors="replace")
                assert line, f"run exited ({await proc.wait()}):\n{''.join(output)}"
                output.append(line)
        url = re.search(r"the chat: (http://\S+)", "".join(output))
        assert url is not None and url.group(1) == f"http://{HOST}:{port}"
        assert all(listening(p) for p in (port, node_port, node_port + 1, node_port + 2))

        # The chat answers through it, over long-polling, whichever node each request reaches.
        client = await start_client()
        page = client.socket(
            url.group(1), id="p", opts={"transports": ["polling"], "reconnection": False},
            auth={"nick": "Robin"},
        )
        await page.connect()
        record = await page.connected(10)
        assert record["engine"].split(".")[0] in ("node1", "node2", "node3")
        for _ in range(3):
            reply = await page.emit_with_ack("join", {"room": "general"})
            assert reply["ok"] is True and reply["members"] == ["Robin"]
        upstreams = {r["upstream"] for r in client.inbox.all("http")}
        assert len(upstreams) == 3, upstreams

        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(30):
            output.append((await proc.stdout.read()).decode(errors="replace"))
            assert await proc.wait() == 128 + signal.SIGTERM
        assert not any(listening(p) for p in (port, node_port, node_port + 1, node_port + 2))
        assert "stopping (PIDs" in "".join(output)
        assert list(tmp_path.iterdir()) == []  # its nginx directory is gone
    finally:
        if proc.returncode is None:  # the test failed with it running: end all it started
            await kill_all(proc)


async def kill_all(proc: asyncio.subprocess.Process) -> None:
    """SIGKILL the script and what it started: each child leads a process group of its own
    (nginx's holds its workers)."""
    children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
    with contextlib.suppress(OSError):
        for child in children.read_text().split():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(int(child), signal.SIGKILL)
    proc.kill()
    await proc.wait()
