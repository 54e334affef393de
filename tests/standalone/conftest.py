from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from tests.standalone.standalone_helpers import RecordingEngine
from tidings.standalone import HttpOptions, HttpServer, serve


@pytest.fixture
def engine() -> RecordingEngine:
    return RecordingEngine()


@pytest.fixture
def options() -> HttpOptions:
    return HttpOptions()


@pytest.fixture
async def server(engine: RecordingEngine, options: HttpOptions) -> AsyncIterator[HttpServer]:
    async with serve(engine, "127.0.0.1", 0, options=options) as srv:
        yield srv


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    """Every async test here runs on both loops: ``run()`` picks uvloop when installed."""
    import uvloop

    return {"asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}
