"""The suite runs on the loop it was asked for (TIDINGS_LOOP, TIDINGS_EAGER_TASKS), so a
matrix entry that says "uvloop, eager tasks" really tested that."""

from __future__ import annotations

import asyncio
import sys

from tests.conftest import LOOP_ID


async def test_the_running_loop_is_the_one_asked_for() -> None:
    loop = asyncio.get_running_loop()
    kind = "uvloop" if type(loop).__module__.startswith("uvloop") else "asyncio"
    assert LOOP_ID.split("-")[0] == kind, (LOOP_ID, type(loop))
    ran: list[str] = []

    async def step() -> None:
        ran.append("started")

    task = asyncio.ensure_future(step())
    # An eager task runs up to its first suspension inside create_task itself.
    assert (ran == ["started"]) == LOOP_ID.endswith("-eager"), (LOOP_ID, ran)
    await task
    if LOOP_ID.endswith("-eager"):
        assert sys.version_info >= (3, 12)
