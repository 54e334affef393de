"""Finding the application a server hosts from its ``module:attribute`` name."""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

__all__ = ["TargetError", "load_target"]


class TargetError(ValueError):
    """A ``module:attribute`` that names nothing importable."""


def load_target(target: str, *, factory: bool = False) -> Any:
    """Import ``module:attribute`` (the attribute may be dotted), as uvicorn does; with
    ``factory``, the attribute is a function called with no arguments to make the app."""
    module_name, _, attr = target.partition(":")
    if not module_name or not attr:
        raise TargetError(f"expected 'module:attribute', got {target!r}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise TargetError(f"cannot import {module_name!r}: {exc}") from exc
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise TargetError(f"{module_name!r} has no attribute {attr!r}") from None
    if factory:
        if not callable(obj):
            raise TargetError(f"{target!r} is not callable, so it cannot be a factory")
        obj = obj()
    return obj
