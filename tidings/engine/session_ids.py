"""New sessions' ids: ``generate_id``'s (Node's ``generateId``, which may be ``async``), or
20 random URL-safe characters as Node's; behind the owner tag when there is one, so that
every process tells where a session lives from its id alone."""

from __future__ import annotations

import asyncio
import inspect
import secrets
from collections.abc import Awaitable, Container

from tidings.engine.hooks import GenerateId
from tidings.engine.io import HttpRequest

__all__ = ["SessionIds"]


class SessionIds:
    """Makes the ids of one engine's sessions; ``taken`` holds those of its open ones."""

    __slots__ = ("generate", "prefix", "taken")

    def __init__(self, generate: GenerateId | None, owner: str | None, taken: Container[str]) -> None:
        self.generate = generate
        self.taken = taken
        self.prefix = ""
        self.set_owner(owner)

    def set_owner(self, owner: str | None) -> None:
        self.prefix = f"{owner}." if owner is not None else ""

    def new(self, request: HttpRequest) -> str | Exception | asyncio.Future[object]:
        """The id for ``request``'s session, or why ``generate_id`` gave none; for an
        ``async`` one, a future of what it made, to hand to ``made`` once it is done."""
        generate = self.generate
        if generate is None:
            while True:
                sid = self.prefix + secrets.token_urlsafe(15)  # 20 characters, as Node's
                if sid not in self.taken:
                    return sid
        try:
            made: object = generate(request)
        except Exception as exc:
            return exc
        if inspect.isawaitable(made):
            return asyncio.ensure_future(_outcome(made))
        return self.made(made)

    def made(self, made: object) -> str | Exception:
        """What ``generate_id`` gave (or raised) behind the prefix, or why it cannot be an
        id: an exception, no non-empty string, or the id of a session still open (Node
        would replace that session; tidings refuses the new one)."""
        if isinstance(made, Exception):
            return made
        if not isinstance(made, str) or not made:
            return TypeError(f"generate_id returned {made!r}, not a non-empty string")
        sid = self.prefix + made
        if sid in self.taken:
            return ValueError(f"generate_id returned the id of an open session, {sid!r}")
        return sid


async def _outcome(made: Awaitable[object]) -> object:
    """What an ``async`` hook returned, or the exception it raised (its own cancellation
    too; this task's is passed on)."""
    try:
        return await made
    except Exception as exc:
        return exc
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise
        return RuntimeError("generate_id was cancelled")
