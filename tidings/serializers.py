"""JSON serializers for packet payloads.

A serializer is chosen per server (or client) and handed to the codecs, so two
servers in one process can differ; nothing here is process-wide state.

Both serializers mimic ``JSON.stringify`` / ``JSON.parse``: compact output,
non-ASCII text left as is, NaN and infinities written as ``null``, and the
``NaN``/``Infinity`` literals refused on input.

The codec relies on one part of the contract: ``dumps`` raises ``TypeError`` for
``bytes`` (they travel as binary attachments, never inside JSON), and ``loads``
raises ``ValueError`` for text that is not valid JSON.
"""

from __future__ import annotations

import json
import math
from typing import Any, NoReturn, Protocol

import orjson

__all__ = ["JsonSerializer", "OrjsonSerializer", "Serializer", "default_serializer"]


class Serializer(Protocol):
    """What the codecs need from a serializer."""

    def dumps(self, obj: Any) -> str:
        """Compact JSON text; ``TypeError`` for anything JSON cannot hold (``bytes`` included)."""
        ...

    def loads(self, text: str) -> Any:
        """The decoded value; ``ValueError`` for text that is not JSON."""
        ...


def _not_serializable(obj: Any, exc: BaseException) -> TypeError:
    return TypeError(f"cannot serialize {type(obj).__name__} value to JSON: {exc}")


class OrjsonSerializer:
    """The default: orjson, several times faster than the stdlib.

    Besides JSON's own types it writes what orjson supports natively (dataclasses,
    ``datetime`` as ISO 8601 like ``Date.toJSON``, ``UUID``, enums). Dict keys
    must be ``str``; integers must fit in 64 bits.
    """

    __slots__ = ()

    def dumps(self, obj: Any) -> str:
        try:
            return orjson.dumps(obj).decode()
        except TypeError as exc:  # orjson.JSONEncodeError is a TypeError
            raise _not_serializable(obj, exc) from None

    def loads(self, text: str) -> Any:
        return orjson.loads(text)  # orjson.JSONDecodeError is a ValueError


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not valid JSON")


def _finite(obj: Any) -> Any:
    """A copy of ``obj`` with non-finite floats as ``None``, as ``JSON.stringify`` writes them."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {key: _finite(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(value) for value in obj]
    return obj


class JsonSerializer:
    """The stdlib ``json`` module, for when orjson's extras are unwanted.

    Keys that are ``int``, ``float``, ``bool`` or ``None`` are written as strings,
    as the stdlib does.
    """

    __slots__ = ()

    def dumps(self, obj: Any) -> str:
        try:
            return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        except ValueError:
            # Only non-finite floats land here (cycles raise too, and again below).
            # Rare, so the common case pays for no walk.
            pass
        except (TypeError, RecursionError) as exc:
            raise _not_serializable(obj, exc) from None
        try:
            return json.dumps(
                _finite(obj), ensure_ascii=False, separators=(",", ":"), allow_nan=False
            )
        except (TypeError, ValueError, RecursionError) as exc:
            raise _not_serializable(obj, exc) from None

    def loads(self, text: str) -> Any:
        try:
            return json.loads(text, parse_constant=_reject_constant)
        except RecursionError:
            raise ValueError("JSON nested too deeply") from None


def default_serializer() -> Serializer:
    """A new instance of the default serializer (orjson)."""
    return OrjsonSerializer()
