"""Calling application handlers with the arguments the peer actually sent.

A Socket.IO peer may send more or fewer arguments than a handler declares
(JavaScript handlers never mind); we pad with None and drop extras rather than
fail on a TypeError, and we learn each handler's shape once, at registration.
Dropping extras is also what hides, from a fixed-arity client handler, the offset
a server with connection state recovery appends to events. Shared by the server
and the client.
"""

from __future__ import annotations

import dis
import inspect
import types
from collections.abc import Callable, Coroutine, Generator
from typing import Any

AnyCallable = Callable[..., Any]


class Handler:
    __slots__ = ("fn", "inline", "is_coroutine", "max_args", "takes_ack")

    def __init__(self, fn: AnyCallable) -> None:
        if not callable(fn):
            raise TypeError(f"a handler must be callable, not {type(fn).__name__}")
        self.fn = fn
        self.is_coroutine = inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
            type(fn).__call__
        )
        # Runs to its end when called, so it needs no task: a plain function, or an
        # ``async def`` with no await in it (its coroutine ends at the first ``send``).
        self.inline = not self.is_coroutine or never_suspends(fn)
        self.max_args: int | None = _max_positional(fn)
        # A keyword-only ``ack`` parameter: the handler answers (or not) when it decides,
        # instead of its return value being the ack.
        self.takes_ack = _has_keyword_only(fn, "ack")

    def call(self, *args: Any) -> Any:
        """Call with ``args`` fitted to the handler's positional parameters."""
        n = self.max_args
        if n is not None and len(args) != n:
            args = _fitted(args, n)
        return self.fn(*args)

    def call_with_ack(self, ack: Any, *args: Any) -> Any:
        """``call`` for a handler that ``takes_ack``: ``ack`` goes as the keyword argument."""
        n = self.max_args
        if n is not None and len(args) != n:
            args = _fitted(args, n)
        return self.fn(*args, ack=ack)

    def __repr__(self) -> str:
        return f"Handler({getattr(self.fn, '__qualname__', self.fn)!r})"


def python_socketio_hint(event: str, fn: AnyCallable) -> str | None:
    """Why ``fn`` looks written for python-socketio, whose handlers take ``(sid, ...)`` and
    ``connect(sid, environ, auth)``: run here, such a handler would get the Socket as ``sid``
    and the auth as ``environ``, silently. None when it does not."""
    try:
        params = list(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return None
    if event == "connect" and "environ" in params:
        found = "a parameter named 'environ'"
    elif params and params[0] == "sid":
        found = "a first parameter named 'sid'"
    else:
        return None
    name = getattr(fn, "__qualname__", repr(fn))
    return (
        f"the handler {name} of {event!r} has {found}, as python-socketio handlers do; "
        "tidings calls it with the Socket first (socket.id is the sid) and connect with "
        "(socket, auth): see the migration guide (docs/migration.md)"
    )


def _fitted(args: tuple[Any, ...], n: int) -> tuple[Any, ...]:
    """Extra arguments dropped, missing ones None (a JavaScript peer never minds either)."""
    return args[:n] if len(args) > n else args + (None,) * (n - len(args))


# Every point where a coroutine can suspend compiles to one of these.
_SUSPENDING_OPS = frozenset(
    dis.opmap[name]
    for name in ("YIELD_VALUE", "SEND", "GET_AWAITABLE", "GET_AITER", "GET_ANEXT",
                 "BEFORE_ASYNC_WITH", "YIELD_FROM")
    if name in dis.opmap
)


def never_suspends(fn: AnyCallable) -> bool:
    """True for an ``async def`` function (or bound method) whose body has no await,
    ``async for`` or ``async with``: its coroutine can only run to its end at once."""
    fn = getattr(fn, "__func__", fn)
    if not inspect.iscoroutinefunction(fn) or not isinstance(fn, types.FunctionType):
        return False
    return not any(ins.opcode in _SUSPENDING_OPS for ins in dis.get_instructions(fn.__code__))


class Suspended:
    """A coroutine that ``run_inline`` started and that suspended after all: ``resume`` it."""

    __slots__ = ("coro", "yielded")

    def __init__(self, coro: Coroutine[Any, Any, Any], yielded: Any) -> None:
        self.coro = coro
        self.yielded = yielded


def run_inline(coro: Coroutine[Any, Any, Any]) -> Any:
    """The result of a coroutine from a handler that ``never_suspends``; a ``Suspended``
    if the check misjudged it, so the caller finishes it in a task instead of losing it."""
    try:
        yielded = coro.send(None)
    except StopIteration as stop:
        return stop.value
    return Suspended(coro, yielded)


@types.coroutine
def _continue(coro: Coroutine[Any, Any, Any], yielded: Any) -> Generator[Any, Any, Any]:
    # What ``yield from`` does: hand what the coroutine yields (a future) to the task that
    # awaits us, and its outcome back, until the coroutine returns.
    while True:
        try:
            sent = yield yielded
        except GeneratorExit:
            coro.close()
            raise
        except BaseException as exc:
            try:
                yielded = coro.throw(exc)
            except StopIteration as stop:
                return stop.value
        else:
            try:
                yielded = coro.send(sent)
            except StopIteration as stop:
                return stop.value


async def resume(suspended: Suspended) -> Any:
    """Run a coroutine that ``run_inline`` left suspended to its end, in the awaiting task."""
    return await _continue(suspended.coro, suspended.yielded)


def _has_keyword_only(fn: AnyCallable, name: str) -> bool:
    try:
        param = inspect.signature(fn).parameters.get(name)
    except (TypeError, ValueError):
        return False
    return param is not None and param.kind is param.KEYWORD_ONLY


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


async def call_maybe_async(handler: Handler, *args: Any, ack: Any = None) -> Any:
    """The handler's result, awaited if it is awaitable; ``ack`` goes to a handler that
    ``takes_ack``."""
    result = handler.call(*args) if ack is None else handler.call_with_ack(ack, *args)
    if inspect.isawaitable(result):
        result = await result
    return result
