"""An HTTP client for async tests that also works under eager tasks.

httpx's AsyncClient runs on anyio, whose cancel scopes break when the loop starts tasks
eagerly (Python 3.12+, ``asyncio.eager_task_factory``: "Attempted to exit a cancel scope
that isn't the current task's"). The same requests made by the sync client in a thread
leave the loop's tasks alone.
"""

from __future__ import annotations

import asyncio
from typing import Any, Self

import httpx


class ThreadedHttp:
    def __init__(self, **options: Any) -> None:
        self._client = httpx.Client(**options)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._client.close()

    async def get(self, url: str, **options: Any) -> httpx.Response:
        return await asyncio.to_thread(self._client.get, url, **options)

    async def post(self, url: str, **options: Any) -> httpx.Response:
        return await asyncio.to_thread(self._client.post, url, **options)
