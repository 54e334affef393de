"""Requests this node sent and waits answers for, by request id.

Answers come on the listener task; the requester awaits. Each request is complete when the
expected number of answers came (counted by message, as Node counts), fails at once when
the pub/sub connection is lost (its answers can no longer arrive), and is forgotten after
completion or timeout, so a late or unknown answer is dropped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from tidings.adapters.base import AckCallback
from tidings.errors import AckTimeoutError
from tidings.ids import Sid

__all__ = ["AckBroadcastRequest", "AnswersRequest", "PendingRequests"]


class AnswersRequest:
    """Waits for ``expected`` answers (fetch, all rooms, server-side emit with ack)."""

    __slots__ = ("expected", "answers", "done")

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.answers: list[Any] = []
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if expected <= 0:
            self.done.set_result(None)

    def answer(self, value: Any) -> None:
        """One node's answer (called by ``ClusterAdapter``)."""
        if self.done.done():
            return
        self.answers.append(value)
        if len(self.answers) >= self.expected:
            self.done.set_result(None)

    def fail(self, error: BaseException) -> None:
        if not self.done.done():
            self.done.set_exception(error)

    async def wait(self, timeout: float | None) -> list[Any]:
        """The answers; ``AckTimeoutError`` carrying those that came when ``timeout`` ran out."""
        try:
            await asyncio.wait_for(asyncio.shield(self.done), timeout)
        except TimeoutError:
            raise AckTimeoutError(responses=list(self.answers)) from None
        return self.answers


class AckBroadcastRequest:
    """A broadcast with acks: every other node's client count, then each client's ack.

    ``client_count_callback`` is called once, with the cluster total, when every node
    reported or at the deadline (then with what was reported).
    """

    __slots__ = ("nodes", "reported", "total", "count_callback", "ack", "counted", "done")

    def __init__(
        self, nodes: int, local_count: int, count_callback: Callable[[int], None], ack: AckCallback
    ) -> None:
        self.nodes = nodes
        self.reported = 0
        self.total = local_count
        self.count_callback = count_callback
        self.ack = ack
        self.counted = False
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if nodes <= 0:
            self.finish_count()

    def client_count(self, count: int) -> None:
        """One node's number of clients (called by ``ClusterAdapter``)."""
        if self.counted:
            return
        self.reported += 1
        self.total += max(0, count)
        if self.reported >= self.nodes:
            self.finish_count()

    def client_ack(self, value: Any) -> None:
        self.ack(Sid(""), [value])

    def finish_count(self) -> None:
        if not self.counted:
            self.counted = True
            self.count_callback(self.total)

    def fail(self, error: BaseException) -> None:
        self.finish_count()
        if not self.done.done():
            self.done.set_result(None)


Request = AnswersRequest | AckBroadcastRequest


class PendingRequests:
    """Open requests of one namespace's adapter, by id."""

    __slots__ = ("by_id",)

    def __init__(self) -> None:
        self.by_id: dict[str, Request] = {}

    def add(self, request_id: str, request: Request) -> None:
        self.by_id[request_id] = request

    def get(self, request_id: str) -> Request | None:
        return self.by_id.get(request_id)

    def remove(self, request_id: str) -> None:
        self.by_id.pop(request_id, None)

    def fail_all(self, error: BaseException) -> None:
        """The answers cannot come (connection lost, adapter closed)."""
        requests = list(self.by_id.values())
        self.by_id.clear()
        for request in requests:
            request.fail(error)
