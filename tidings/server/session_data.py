"""``socket.data``: a dict that tells its socket when it changes.

With connection state recovery the stored session must follow the socket while it is
connected (a node killed outright never saves at disconnect), so a change of a key is
a change of the session. Changes inside a value (``data["list"].append(x)``) are not
seen: assign the key again to have them kept.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["SessionData"]


class SessionData(dict[str, Any]):
    __slots__ = ("_changed",)

    def __init__(self, changed: Callable[[], None]) -> None:
        super().__init__()
        self._changed = changed

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, value)
        self._changed()

    def __delitem__(self, key: str) -> None:
        super().__delitem__(key)
        self._changed()

    def update(self, *args: Any, **kwargs: Any) -> None:
        super().update(*args, **kwargs)
        self._changed()

    def pop(self, key: str, *default: Any) -> Any:
        value = super().pop(key, *default)
        self._changed()
        return value

    def setdefault(self, key: str, default: Any = None) -> Any:
        value = super().setdefault(key, default)
        self._changed()
        return value

    def clear(self) -> None:
        super().clear()
        self._changed()
