"""Application callbacks, called with the arguments the server actually sent.

A server may send more or fewer arguments than a handler declares (JavaScript
handlers never mind): we pad with ``None`` and drop extras, learning each
handler's shape once. Dropping extras is also what hides the offset a server
with connection state recovery appends to broadcast events, as a JavaScript
handler ignores it.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

__all__ = ["Handler", "call_handler"]

AnyCallable = Callable[..., Any]


class Handler:
    __slots__ = ("fn", "max_args")

    def __init__(self, fn: AnyCallable) -> None:
        if not callable(fn):
            raise TypeError(f"a handler must be callable, not {type(fn).__name__}")
        self.fn = fn
        self.max_args = _max_positional(fn)

    def __repr__(self) -> str:
        return f"Handler({getattr(self.fn, '__qualname__', self.fn)!r})"


def _max_positional(fn: AnyCallable) -> int | None:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    count = 0
    for param in sig.parameters.values():
        if param.kind is param.VAR_POSITIONAL:
            return None
        if param.kind in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD):
            count += 1
    return count


async def call_handler(handler: Handler, *args: Any) -> Any:
    """Call with ``args`` fitted to the handler's positional parameters; await a coroutine."""
    n = handler.max_args
    if n is not None and len(args) != n:
        args = args[:n] if len(args) > n else args + (None,) * (n - len(args))
    result = handler.fn(*args)
    if inspect.isawaitable(result):
        result = await result
    return result
