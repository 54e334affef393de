"""``tidings serve workers_app:sio --workers 2`` with the official client: connections spread
over the workers, and every cluster feature works across them."""

from __future__ import annotations

import asyncio
import os
import re
import signal
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from tests.e2e.harness import ClientSocket, NodeClient

from .supervised import Supervised, alive

WEBSOCKET = {"transports": ["websocket"]}
StartSupervisor = Callable[..., Awaitable[Supervised]]


async def connect_one(node: NodeClient, url: str, opts: dict[str, Any]) -> tuple[ClientSocket, int]:
    socket = node.socket(url, opts=opts)
    await socket.connect()
    await socket.connected()
    (pid,) = await socket.call("pid")
    return socket, pid


async def spread_clients(
    node: NodeClient, url: str, opts: dict[str, Any] = WEBSOCKET, *, each: int = 1, limit: int = 40
) -> dict[int, list[ClientSocket]]:
    """Connect clients until each of the two workers has ``each`` of them (the kernel picks
    a worker per connection: the chance that ``limit`` all land on one is negligible)."""
    by_pid: dict[int, list[ClientSocket]] = {}
    for _ in range(limit):
        socket, pid = await connect_one(node, url, opts)
        by_pid.setdefault(pid, []).append(socket)
        if len(by_pid) == 2 and all(len(s) >= each for s in by_pid.values()):
            return by_pid
    raise AssertionError(f"{limit} connections did not reach two workers: {by_pid.keys()}")


async def test_clients_land_on_both_workers_and_rooms_span_them(
    start_supervisor: StartSupervisor, node: NodeClient
) -> None:
    served = await start_supervisor("--workers", "2")
    by_pid = await spread_clients(node, served.url)
    (pid_a, (a, *_)), (pid_b, (b, *_)) = by_pid.items()
    assert pid_a != pid_b
    assert await a.call("join", "r") == [pid_a]
    assert await b.call("join", "r") == [pid_b]

    assert await a.call("to_room", "r", "from a") == [pid_a]
    assert await a.event("news") == ["from a", pid_a]
    assert await b.event("news") == ["from a", pid_a]
    assert await b.call("to_room", "r", "from b") == [pid_b]
    assert await a.event("news") == ["from b", pid_b]
    assert await b.event("news") == ["from b", pid_b]
    outsiders = [s for sockets in by_pid.values() for s in sockets if s not in (a, b)]
    assert all(not s.received("news") for s in outsiders)


async def test_cluster_operations_across_workers(
    start_supervisor: StartSupervisor, node: NodeClient
) -> None:
    served = await start_supervisor("--workers", "2")
    by_pid = await spread_clients(node, served.url)
    (pid_a, (a, *_)), (pid_b, (b, *_)) = by_pid.items()
    await a.call("join", "both")
    await b.call("join", "both")

    assert await a.call("server_count") == [2]
    assert await a.call("fetch", "both") == [sorted([a.sid, b.sid])]
    assert await b.call("fetch", "both") == [sorted([a.sid, b.sid])]
    assert await a.call("ask_servers") == [[pid_b]]
    assert await b.call("ask_servers") == [[pid_a]]

    await a.call("tell_servers", "hello")  # worker b hears it and emits to every client
    assert await a.event("noted") == ["hello", pid_a, pid_b]
    assert await b.event("noted") == ["hello", pid_a, pid_b]

    everyone = [s for sockets in by_pid.values() for s in sockets]
    for socket in everyone:
        await socket.reply("question", "value", socket.id)
    (answers,) = await a.call("ack_all")
    assert sorted(answers) == sorted(s.id for s in everyone)


async def test_a_killed_worker_is_restarted_and_the_other_serves_on(
    start_supervisor: StartSupervisor, node: NodeClient
) -> None:
    served = await start_supervisor("--workers", "2")
    by_pid = await spread_clients(node, served.url)
    (pid_a, (a, *_)), (pid_b, (b, *_)) = by_pid.items()
    mark = len(served.lines)
    os.kill(pid_b, signal.SIGKILL)

    assert await b.disconnected() == "transport close"
    await served.wait_for(re.compile(rf"worker \d \(pid {pid_b}\) died \(exit status 137\)"), start=mark)
    await served.wait_for(re.compile(r"worker \d \(\S+\) serving"), start=mark)
    assert await a.call("pid") == [pid_a]
    await b.connected(timeout=10)  # the client reconnects, to one worker or the other

    pids: set[int] = set()
    for _ in range(40):
        pids.add((await connect_one(node, served.url, WEBSOCKET))[1])
        if len(pids) == 2:
            break
    assert pid_a in pids and pid_b not in pids and len(pids) == 2
    (new_pid,) = pids - {pid_a}
    assert alive(new_pid) and not alive(pid_b)
    assert await a.call("server_count") == [2]


async def test_sigterm_drains_every_worker_over_the_spread(
    start_supervisor: StartSupervisor, node: NodeClient
) -> None:
    spread = 2.0
    served = await start_supervisor("--workers", "2", "--drain-spread", str(spread))
    by_pid = await spread_clients(node, served.url, each=4)
    sockets = [s for group in by_pid.values() for s in group]
    loop = asyncio.get_running_loop()

    async def disconnect_time(socket: ClientSocket) -> tuple[str, float]:
        reason = await socket.disconnected(timeout=spread + 10)
        return reason, loop.time()

    waits = [asyncio.ensure_future(disconnect_time(s)) for s in sockets]
    started = loop.time()
    status = await served.stop()

    assert status == 0
    results = await asyncio.gather(*waits)
    assert {reason for reason, _ in results} == {"transport close"}  # told to reconnect
    times = sorted(t - started for _, t in results)
    # Session k of a worker's n goes at spread * k / n: spread out, not all at once.
    assert times[-1] - times[0] >= spread / 3
    assert times[-1] <= spread + 2
    buckets = {int(t / 0.2) for t in times}
    assert len(buckets) >= 3, times
    assert not any(alive(pid) for pid in by_pid)
    assert any("worker 0 draining over 2.0s" in line for line in served.lines)


@pytest.mark.parametrize("mode", ["polling", "upgrade"])
async def test_polling_and_upgrade_clients_across_workers(
    start_supervisor: StartSupervisor, node: NodeClient, mode: str
) -> None:
    served = await start_supervisor("--workers", "2")
    opts: dict[str, Any] = {"transports": ["polling"]} if mode == "polling" else {}
    by_pid: dict[int, list[ClientSocket]] = {}
    sockets = []
    for _ in range(8):  # each request of each session may reach either worker
        socket, pid = await connect_one(node, served.url, opts)
        by_pid.setdefault(pid, []).append(socket)
        sockets.append(socket)
    for socket in sockets:
        await socket.call("join", "p")
    await sockets[0].call("to_room", "p", "all of you")
    for socket in sockets:
        assert (await socket.event("news"))[0] == "all of you"
        assert await socket.call("pid") == [next(p for p, s in by_pid.items() if socket in s)]


async def test_a_drain_lets_an_ack_in_flight_reach_its_client_first(
    start_supervisor: StartSupervisor, node: NodeClient
) -> None:
    served = await start_supervisor("--workers", "2", "--drain-spread", "0.5")
    by_pid = await spread_clients(node, served.url)
    a = next(iter(by_pid.values()))[0]
    call = asyncio.ensure_future(a.call("slow", 1.5))
    assert await a.event("started") == []
    status = asyncio.ensure_future(served.stop())
    assert await call == ["done"]  # its session was kept open until the handler acked
    assert await a.disconnected() == "transport close"
    assert await status == 0
