"""Exceptions an application raises or receives, on the server and in the client alike."""

from __future__ import annotations

from typing import Any


class ConnectionRefusedError(ConnectionError):
    """Raise from middleware or a connect handler to refuse a client.

    The client receives ``connect_error`` with ``err.message`` and ``err.data``.
    """

    def __init__(self, message: str = "Connection refused", data: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.data = data

    def to_payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = {"message": self.message}
        if self.data is not None:
            payload["data"] = self.data
        return payload


class AckTimeoutError(TimeoutError):
    """An acknowledgement did not arrive in time.

    For a broadcast, ``responses`` holds the replies that did arrive.
    """

    def __init__(self, message: str = "operation has timed out", responses: list[Any] | None = None) -> None:
        super().__init__(message)
        self.responses: list[Any] = responses if responses is not None else []


class DisconnectedError(ConnectionError):
    """An emit waiting for an ack whose socket went away."""


class ClusterError(ConnectionError):
    """An operation could not reach the other servers of the cluster (e.g. Redis is down).

    Raised instead of reporting as done what the other servers never got; what this
    server's own sockets were to receive was delivered.
    """


class MigrationWarning(UserWarning):
    """Code written for python-socketio that would run differently here (see the
    migration guide); raised as a warning when the handler is registered."""
