"""Binary attachments: bytes out of the data on the way out, back in on the way in.

Socket.IO cannot put bytes in JSON, so each one is swapped for
``{"_placeholder": true, "num": n}`` (numbered depth-first, in the order they
are serialized) and sent after the text as a binary message of its own.
"""

from __future__ import annotations

from typing import Any

from tidings.protocol.socketio.errors import DecodeError

__all__ = [
    "BINARY_TYPES",
    "MAX_ENCODE_DEPTH",
    "PlaceholderSlot",
    "deconstruct",
    "fill_placeholders",
    "find_placeholders",
    "has_binary",
    "is_binary",
    "is_placeholder",
    "placeholder",
]

BINARY_TYPES = (bytes, bytearray, memoryview)

# Deeper than orjson will serialize anyway; bounds the walk over (possibly cyclic) local data.
MAX_ENCODE_DEPTH = 255

# (container, key, attachment number): where a decoded attachment goes.
PlaceholderSlot = tuple[Any, Any, int]


def is_binary(obj: Any) -> bool:
    """Whether ``obj`` itself travels as an attachment."""
    return isinstance(obj, BINARY_TYPES)


def has_binary(obj: Any, max_depth: int = MAX_ENCODE_DEPTH) -> bool:
    """Whether ``obj`` is or holds (in lists, tuples, dicts) any bytes-like value."""
    if isinstance(obj, BINARY_TYPES):
        return True
    if max_depth <= 0:
        return False
    if isinstance(obj, (list, tuple)):
        return any(has_binary(item, max_depth - 1) for item in obj)
    if isinstance(obj, dict):
        return any(has_binary(item, max_depth - 1) for item in obj.values())
    return False


def placeholder(num: int) -> dict[str, Any]:
    """The JSON that stands for attachment ``num``."""
    return {"_placeholder": True, "num": num}


def is_placeholder(obj: Any) -> bool:
    """Whether ``obj`` is a placeholder, as the reference parser judges it."""
    return type(obj) is dict and obj.get("_placeholder") is True


def deconstruct(data: Any) -> tuple[Any, tuple[bytes, ...]]:
    """A copy of ``data`` with placeholders for its bytes, and those bytes in order.

    The caller's data is not touched. ``bytearray`` and ``memoryview`` are
    copied to ``bytes`` so later changes to them cannot alter what is sent.
    Raises ``TypeError`` for data nested deeper than ``MAX_ENCODE_DEPTH``
    (which includes cycles).
    """
    buffers: list[bytes] = []
    return _deconstruct(data, buffers, 0), tuple(buffers)


def _deconstruct(obj: Any, buffers: list[bytes], depth: int) -> Any:
    if isinstance(obj, BINARY_TYPES):
        buffers.append(obj if type(obj) is bytes else bytes(obj))
        return {"_placeholder": True, "num": len(buffers) - 1}
    if isinstance(obj, (list, tuple, dict)):
        if depth >= MAX_ENCODE_DEPTH:
            raise TypeError("data nested too deeply (or cyclic) to serialize")
        depth += 1
        if isinstance(obj, dict):
            return {key: _deconstruct(value, buffers, depth) for key, value in obj.items()}
        return [_deconstruct(item, buffers, depth) for item in obj]
    return obj


def find_placeholders(data: Any, attachments: int, max_depth: int) -> list[PlaceholderSlot]:
    """Where each placeholder in decoded ``data`` sits, checked against ``attachments``.

    Walks lists and dicts iteratively (no recursion a peer could exhaust) and
    raises ``DecodeError`` for a placeholder whose ``num`` is not an attachment
    index, or for containers nested deeper than ``max_depth`` (``data`` itself
    is depth 1).
    """
    slots: list[PlaceholderSlot] = []
    if type(data) is not list and type(data) is not dict:
        return slots
    stack: list[tuple[Any, int]] = [(data, 1)]
    pop = stack.pop
    push = stack.append
    while stack:
        node, depth = pop()
        if depth > max_depth:
            raise DecodeError("payload nested too deeply")
        items = node.items() if type(node) is dict else enumerate(node)
        for key, value in items:
            kind = type(value)
            if kind is dict:
                if value.get("_placeholder") is True:
                    num = value.get("num")
                    if type(num) is not int or not 0 <= num < attachments:
                        raise DecodeError("invalid attachment placeholder")
                    slots.append((node, key, num))
                else:
                    push((value, depth + 1))
            elif kind is list:
                push((value, depth + 1))
    return slots


def fill_placeholders(slots: list[PlaceholderSlot], buffers: list[bytes]) -> None:
    """Put each received attachment where its placeholder was."""
    for container, key, num in slots:
        container[key] = buffers[num]
