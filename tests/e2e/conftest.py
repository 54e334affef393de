"""Fixtures for the end-to-end tests: the official client in Node, in every transport mode."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from .harness import CLIENT_SCRIPT, MODES, NodeClient


@pytest.fixture(params=list(MODES))
def mode(request: pytest.FixtureRequest) -> str:
    """websocket only, polling only, or polling upgraded to websocket."""
    return str(request.param)


@pytest.fixture
def client_opts(mode: str) -> dict[str, Any]:
    """socket.io-client options for ``mode``; quick reconnection so restarts stay fast."""
    return {**MODES[mode], "reconnectionDelay": 100, "reconnectionDelayMax": 200}


@pytest.fixture
async def start_node(node_bin: str) -> AsyncIterator[Callable[..., Awaitable[NodeClient]]]:
    """Start node/*.mjs processes (client.mjs unless told); all of them end with the test."""
    started: list[NodeClient] = []

    async def start(script: Path = CLIENT_SCRIPT, *args: str) -> NodeClient:
        client = await NodeClient.start(node_bin, script, *args)
        started.append(client)
        return client

    yield start
    for client in started:
        await client.close()


@pytest.fixture
async def node(start_node: Callable[..., Awaitable[NodeClient]]) -> NodeClient:
    """One client.mjs process (it can hold many sockets)."""
    return await start_node()
