"""What the built-in server needs of the application it hosts.

Structural types only, so this package depends on ``tidings.engine.io`` and
nothing else of the engine: an ``EngineServer``, a ``tidings.Server`` (which has
``.engine``) or a test's own small class all fit.
"""

from __future__ import annotations

from collections.abc import Mapping
from os import PathLike
from typing import Protocol, runtime_checkable

from tidings.engine.io import HttpRequest, HttpResponse, WebSocketListener, WebSocketTransport

StaticFilesMap = Mapping[str, "str | PathLike[str]"]


class EngineOptionsLike(Protocol):
    @property
    def max_payload(self) -> int: ...


@runtime_checkable
class EngineLike(Protocol):
    @property
    def options(self) -> EngineOptionsLike: ...

    def matches(self, path: str) -> bool: ...

    async def handle_http(self, request: HttpRequest) -> HttpResponse: ...

    def check_websocket(self, request: HttpRequest) -> HttpResponse | None: ...

    def open_websocket(
        self, request: HttpRequest, transport: WebSocketTransport
    ) -> WebSocketListener: ...


class AppLike(Protocol):
    """An application built on an engine, e.g. ``tidings.Server``."""

    @property
    def engine(self) -> EngineLike: ...


class Shutdown(Protocol):
    async def shutdown(self, timeout: float) -> None: ...


def engine_of(app: EngineLike | AppLike) -> EngineLike:
    engine = getattr(app, "engine", app)
    if not isinstance(engine, EngineLike):
        raise TypeError(
            f"{type(app).__name__} is neither an EngineServer nor has an .engine that is one"
        )
    return engine


def static_files_of(app: object) -> dict[str, str | PathLike[str]]:
    mapping = getattr(app, "static_files", None)
    return dict(mapping) if mapping else {}
