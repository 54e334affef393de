"""The client's emits that wait for an acknowledgement, by ack id, each with its namespace."""

from __future__ import annotations

import asyncio
from typing import Any

from tidings.client.errors import DisconnectedError

__all__ = ["PendingAcks"]


class PendingAcks:
    """Ack ids are given out in order; an answer resolves the future of its id.

    An answer counts only if it comes on the namespace the event was sent on.
    """

    __slots__ = ("_futures", "_next_id")

    def __init__(self) -> None:
        self._futures: dict[int, tuple[str, asyncio.Future[list[Any]]]] = {}
        self._next_id = 0

    def create(self, namespace: str) -> tuple[int, asyncio.Future[list[Any]]]:
        """A new ack id and the future its answer resolves; called by the multiplexer's emit."""
        ack_id = self._next_id
        self._next_id += 1
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self._futures[ack_id] = (namespace, future)
        return ack_id, future

    def resolve(self, namespace: str, ack_id: int | None, args: list[Any]) -> None:
        """An ACK packet arrived on ``namespace``; called by the multiplexer."""
        entry = self._futures.get(ack_id) if ack_id is not None else None
        if entry is not None and entry[0] == namespace and not entry[1].done():
            entry[1].set_result(args)

    def discard(self, ack_id: int) -> None:
        """No longer waited for (answered, timed out or failed); called by the multiplexer."""
        self._futures.pop(ack_id, None)

    def fail(self, ack_id: int) -> None:
        """Its namespace disconnected, so no answer can come; called by the multiplexer."""
        entry = self._futures.pop(ack_id, None)
        if entry is not None and not entry[1].done():
            entry[1].set_exception(DisconnectedError(f"namespace {entry[0]} disconnected"))

    def fail_namespace(self, namespace: str, *, keep: set[int]) -> None:
        """Fail every ack of ``namespace`` but those in ``keep``; called by the multiplexer."""
        for ack_id, (name, _future) in list(self._futures.items()):
            if name == namespace and ack_id not in keep:
                self.fail(ack_id)
