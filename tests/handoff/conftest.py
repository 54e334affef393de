from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import NodeClient


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    """Hand-offs run on both loops: ``run()`` picks uvloop when installed. Nodes in processes
    of their own choose theirs (both kinds at once): the test's own loop runs only the balancer."""
    import uvloop

    if item.nodeid.split("::")[0].endswith("test_handoff_processes.py"):
        return {"asyncio": asyncio.new_event_loop}
    return {"asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}


@pytest.fixture
async def node(node_bin: str) -> AsyncIterator[NodeClient]:
    """One client.mjs process driving the official client (it can hold many sockets); its
    report lines may carry messages of a few hundred kilobytes."""
    client = await NodeClient.start(node_bin)
    yield client
    await client.close()


@pytest.fixture
def socket_dir() -> Iterator[Path]:
    """A short private directory: unix socket paths are limited to 107 bytes."""
    path = Path(tempfile.mkdtemp(prefix="td-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)
