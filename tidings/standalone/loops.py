"""Which event loop a server process runs on: uvloop when installed (``"auto"``), or
asyncio's own, optionally with eager tasks (Python 3.12+), as uvicorn's ``--loop``.

``TIDINGS_LOOP`` (``auto``, ``asyncio``, ``uvloop``) and ``TIDINGS_EAGER_TASKS`` (``1``)
set the defaults, so a process started by another (a worker, a test's server) runs on the
loop its parent was told to use.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable, Coroutine, Generator
from typing import Any, Literal

__all__ = ["LOOPS", "LoopName", "eager_task_factory", "loop_factory", "loop_from_env"]

LoopName = Literal["auto", "asyncio", "uvloop"]
LOOPS: tuple[LoopName, ...] = ("auto", "asyncio", "uvloop")


def loop_from_env() -> tuple[LoopName, bool]:
    """The loop and the eager-tasks switch that ``TIDINGS_LOOP`` and ``TIDINGS_EAGER_TASKS`` name."""
    name = os.environ.get("TIDINGS_LOOP", "auto").strip().lower() or "auto"
    if name not in LOOPS:
        raise ValueError(f"TIDINGS_LOOP must be one of {', '.join(LOOPS)}, not {name!r}")
    eager = os.environ.get("TIDINGS_EAGER_TASKS", "").strip().lower() in ("1", "true", "yes")
    return name, eager


def loop_factory(
    loop: LoopName | None = None, eager_tasks: bool | None = None
) -> Callable[[], asyncio.AbstractEventLoop]:
    """A factory of new loops of the kind asked for (``None``: from the environment)."""
    env_loop, env_eager = loop_from_env()
    name = env_loop if loop is None else loop
    eager = env_eager if eager_tasks is None else eager_tasks
    if eager and sys.version_info < (3, 12):
        raise ValueError("eager tasks need Python 3.12 or newer")
    make: Callable[[], asyncio.AbstractEventLoop] = asyncio.new_event_loop
    if name != "asyncio":
        try:
            import uvloop
        except ImportError:
            if name == "uvloop":
                raise ValueError("loop 'uvloop' asked for, but uvloop is not installed: "
                                 "pip install 'tidings[speed]'") from None
        else:
            make = uvloop.new_event_loop
    if not eager:
        return make

    def new_eager_loop() -> asyncio.AbstractEventLoop:
        new = make()
        new.set_task_factory(eager_task_factory)
        return new

    return new_eager_loop


def eager_task_factory(
    loop: asyncio.AbstractEventLoop,
    coro: Coroutine[Any, Any, Any] | Generator[Any, None, Any],
    *,
    eager_start: bool | None = None,
    **kwargs: Any,
) -> asyncio.Task[Any]:
    """``asyncio.eager_task_factory`` (Python 3.12+) for any loop: uvloop on Python 3.13
    passes its factory ``eager_start``, which the standard one does not take (every
    ``create_task`` would raise ``TypeError``). ``eager_start=False`` is honoured."""
    eager = eager_start is not False
    return asyncio.Task(coro, loop=loop, eager_start=eager, **kwargs)  # type: ignore[call-arg,arg-type,unused-ignore]
