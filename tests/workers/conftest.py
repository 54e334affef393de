"""Fixtures for the workers' tests: a supervisor with its workers, and Node clients."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from tests.e2e.harness import CLIENT_SCRIPT, NodeClient

from .supervised import Supervised


@pytest.fixture
async def start_supervisor() -> AsyncIterator[Callable[..., Awaitable[Supervised]]]:
    """Start ``tidings serve workers_app:sio`` with these options; stopped after the test."""
    started: list[Supervised] = []

    async def start(*options: str) -> Supervised:
        supervised = await Supervised.start(*options)
        started.append(supervised)
        return supervised

    yield start
    for supervised in started:
        await supervised.stop()


@pytest.fixture
async def node(node_bin: str) -> AsyncIterator[NodeClient]:
    """One client.mjs process (the official socket.io-client; it holds many sockets)."""
    client = await NodeClient.start(node_bin, CLIENT_SCRIPT)
    yield client
    await client.close()
