"""The suite runs on the loop it was asked for (TIDINGS_LOOP, TIDINGS_EAGER_TASKS), so a
matrix entry that says "uvloop, eager tasks" really tested that."""

from __future__ import annotations

import asyncio
import sys

import pytest

from tests.conftest import LOOP_ID
from tidings.standalone.loops import LoopName, loop_factory


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


@pytest.mark.parametrize("name", ["asyncio", "uvloop"])
def test_eager_tasks_on_either_loop(name: LoopName) -> None:
    """uvloop on 3.13 hands its task factory ``eager_start``: the factory must take it.
    Before 3.12 there are no eager tasks, and asking for them is refused up front."""
    if sys.version_info < (3, 12):
        with pytest.raises(ValueError, match="eager tasks need Python 3.12"):
            loop_factory(name, eager_tasks=True)
        return
    loop = loop_factory(name, eager_tasks=True)()
    ran: list[str] = []

    async def step() -> None:
        ran.append("started")

    async def main() -> None:
        task = asyncio.get_running_loop().create_task(step(), name="step")
        assert ran == ["started"]  # inside create_task
        assert task.get_name() == "step"
        await task

    try:
        loop.run_until_complete(main())
    finally:
        loop.close()
    assert ran == ["started"]
