"""What the built-in server needs of the application it hosts.

Structural types only, so this package depends on ``tidings.engine.io`` and
nothing else of the engine: an ``EngineServer``, a ``tidings.Server`` (which has
``.engine``) or a test's own small class all fit. An app may also carry raw
WebSocket routes (``.websocket_routes``, e.g. ``tidings.websocket_routes.WebSocketRoutes``);
an app with routes and no engine is served with an engine that matches nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from os import PathLike
from typing import Any, Protocol, runtime_checkable

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


class RouteListener(WebSocketListener, Protocol):
    """The listener of a raw route: also told of pongs and of a drained write buffer."""

    def on_pong(self, payload: bytes) -> None: ...

    def on_drain(self) -> None: ...


class WebSocketRouteLike(Protocol):
    """One raw WebSocket route: the upgrade is checked and opened as the engine's is."""

    @property
    def max_message_size(self) -> int: ...

    @property
    def write_limit(self) -> int: ...

    def check_websocket(self, request: HttpRequest) -> HttpResponse | None: ...

    # The transport is a ``tidings.websocket_routes.RouteTransport``.
    def open_websocket(self, request: HttpRequest, transport: Any) -> RouteListener: ...


class WebSocketRoutesLike(Protocol):
    def match(self, path: str) -> WebSocketRouteLike | None: ...


class AppLike(Protocol):
    """An application built on an engine, e.g. ``tidings.Server``."""

    @property
    def engine(self) -> EngineLike: ...


class Shutdown(Protocol):
    async def shutdown(self, timeout: float) -> None: ...


@dataclass(frozen=True, slots=True)
class _NoEngineOptions:
    max_payload: int = 1_000_000  # the HTTP request body limit then


class NoEngine:
    """The engine of an app that has only raw WebSocket routes: it matches no path."""

    options: EngineOptionsLike = _NoEngineOptions()

    def matches(self, path: str) -> bool:
        return False

    async def handle_http(self, request: HttpRequest) -> HttpResponse:
        raise AssertionError("NoEngine matches no path")

    def check_websocket(self, request: HttpRequest) -> HttpResponse | None:
        raise AssertionError("NoEngine matches no path")

    def open_websocket(
        self, request: HttpRequest, transport: WebSocketTransport
    ) -> WebSocketListener:
        raise AssertionError("NoEngine matches no path")


def engine_of(app: EngineLike | AppLike | object) -> EngineLike:
    engine = getattr(app, "engine", app)
    if isinstance(engine, EngineLike):
        return engine
    if routes_of(app) is not None:
        return NoEngine()
    raise TypeError(
        f"{type(app).__name__} is neither an EngineServer nor has an .engine that is one,"
        " nor has .websocket_routes"
    )


def routes_of(app: object) -> WebSocketRoutesLike | None:
    """The app's raw WebSocket routes, if it has any."""
    routes = getattr(app, "websocket_routes", None)
    return routes if callable(getattr(routes, "match", None)) else None


def static_files_of(app: object) -> dict[str, str | PathLike[str]]:
    mapping = getattr(app, "static_files", None)
    return dict(mapping) if mapping else {}
