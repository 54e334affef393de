"""Fixtures: a server of each kind (reference Node, tidings) and each transport mode."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from .servers import NodeServer, ServerHarness, TidingsServer

#: The client's ``transports`` for each mode: websocket only, polling only, polling then upgrade.
MODES: dict[str, tuple[str, ...]] = {
    "websocket": ("websocket",),
    "polling": ("polling",),
    "upgrade": ("polling", "websocket"),
}

ServerFactory = Callable[..., Awaitable[ServerHarness]]


@pytest.fixture(params=list(MODES))
def transports(request: pytest.FixtureRequest) -> tuple[str, ...]:
    return MODES[request.param]


@pytest.fixture(params=["node", "tidings"])
def server_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def make_server(request: pytest.FixtureRequest) -> AsyncIterator[ServerFactory]:
    """``await make_server(kind, ping_interval=..., recovery=...)``; stopped with the test.

    Times are in seconds for both kinds.
    """
    started: list[ServerHarness] = []

    async def make(
        kind: str,
        *,
        ping_interval: float = 25.0,
        ping_timeout: float = 20.0,
        recovery: bool = False,
    ) -> ServerHarness:
        server: ServerHarness
        if kind == "node":
            node = request.getfixturevalue("node_bin")
            server = NodeServer(
                node,
                pingInterval=int(ping_interval * 1000),
                pingTimeout=int(ping_timeout * 1000),
                recovery=recovery,
            )
        else:
            options: dict[str, Any] = {"ping_interval": ping_interval, "ping_timeout": ping_timeout}
            if recovery:
                options["connection_state_recovery"] = True
            server = TidingsServer(**options)
        await server.start()
        started.append(server)
        return server

    yield make
    for server in started:
        await server.stop()


@pytest.fixture
async def server(server_kind: str, make_server: ServerFactory) -> ServerHarness:
    return await make_server(server_kind)
