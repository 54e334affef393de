"""Ack arguments and the values handlers see: one rule for client and server.

A handler's return value becomes the ack's arguments (``None``: none, a tuple: several,
anything else: one); an ack's arguments come back as ``None``, the one value, or a tuple.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ack_args", "ack_value"]


def ack_args(result: Any) -> list[Any]:
    """The ack arguments that a handler's return value stands for."""
    if result is None:
        return []
    if isinstance(result, tuple):
        return list(result)
    return [result]


def ack_value(args: list[Any]) -> Any:
    """What an awaiting caller gets from an ack's arguments."""
    if not args:
        return None
    if len(args) == 1:
        return args[0]
    return tuple(args)
