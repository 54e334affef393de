"""Which handlers run inline (no task), and that running them so changes no outcome."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tidings.handlers import Handler, Suspended, never_suspends, resume, run_inline


async def returns(x: int) -> int:
    return x + 1


async def awaits(x: int) -> int:
    await asyncio.sleep(0)
    return x


async def uses_async_with(lock: asyncio.Lock) -> None:
    async with lock:
        pass


async def uses_async_for(items: Any) -> list[Any]:
    return [item async for item in items]


async def defines_but_does_not_await() -> Any:
    async def inner() -> None:
        await asyncio.sleep(0)

    return inner


def plain(x: int) -> int:
    return x


class Handlers:
    async def method(self, x: int) -> int:
        return x

    async def method_awaiting(self, x: int) -> int:
        await asyncio.sleep(0)
        return x


class AsyncCallable:
    async def __call__(self, x: int) -> int:
        return x


@pytest.mark.parametrize(
    ("fn", "expected"),
    [
        (returns, True),
        (defines_but_does_not_await, True),  # the inner function's awaits are not its own
        (Handlers().method, True),
        (awaits, False),
        (uses_async_with, False),
        (uses_async_for, False),
        (Handlers().method_awaiting, False),
        (plain, False),  # not a coroutine at all
        (AsyncCallable(), False),  # not analysed: runs in a task
    ],
)
def test_never_suspends(fn: Any, expected: bool) -> None:
    assert never_suspends(fn) is expected


def test_inline_handlers_are_plain_functions_and_coroutines_that_cannot_suspend() -> None:
    assert Handler(plain).inline
    assert Handler(returns).inline
    assert not Handler(awaits).inline
    assert not Handler(AsyncCallable()).inline


def test_run_inline_returns_the_result_and_raises_what_the_body_raises() -> None:
    assert run_inline(returns(1)) == 2

    async def fails() -> None:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        run_inline(fails())


async def test_run_inline_hands_back_a_coroutine_that_suspends_to_be_resumed() -> None:
    started = run_inline(awaits(1))
    assert isinstance(started, Suspended)
    assert await resume(started) == await awaits(1)
