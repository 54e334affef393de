"""What a server reads of the application it hosts: its engine, raw WebSocket routes,
static files, startup and shutdown.

The built-in server (``tidings.standalone``) and the ASGI app (``tidings.asgi``)
host the same application objects; reading them here, once, is what makes both
serve the same app the same way. Both packages import this module and it imports
neither. It is not part of ``tidings.engine``, although it needs only the
engine's I/O contract: routes, static files and a ``tidings.Server``'s own
startup belong to the application above the engine, which the engine knows
nothing of. It knows the application by structural types alone, so an
``EngineServer``, a ``tidings.Server`` (which has ``.engine``),
``WebSocketRoutes`` or a test's own small class all fit; an app that has routes
and no engine is hosted with an engine that matches no path.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from os import PathLike
from typing import Any, Protocol, cast, runtime_checkable

from tidings.engine.io import (
    HttpRequest,
    HttpResponse,
    WebSocketListener,
    WebSocketTarget,
    WebSocketTransport,
)
from tidings.engine.static import StaticFiles

__all__ = [
    "AppLike",
    "EngineHooksLike",
    "EngineLike",
    "EngineOptionsLike",
    "HostedApp",
    "NoEngine",
    "RouteListener",
    "StaticFilesMap",
    "WebSocketRouteLike",
    "WebSocketRoutesLike",
    "hooks_of",
]

StaticFilesMap = Mapping[str, "str | PathLike[str]"]


class EngineOptionsLike(Protocol):
    @property
    def path(self) -> str:
        """Where the engine answers (the ASGI app moves it to its own ``socketio_path``)."""
        ...

    @property
    def max_payload(self) -> int:
        """The bound on a request body and a WebSocket message, in both I/O layers."""
        ...


@runtime_checkable
class EngineLike(WebSocketTarget[WebSocketTransport, WebSocketListener], Protocol):
    """The Engine.IO server as its I/O layers call it (``tidings.engine.EngineServer``)."""

    @property
    def options(self) -> EngineOptionsLike: ...

    def matches(self, path: str) -> bool: ...

    async def handle_http(self, request: HttpRequest) -> HttpResponse: ...


class UpgradeHeadersLike(Protocol):
    def upgrade_headers(self, request: HttpRequest) -> list[tuple[str, str]]: ...


class EngineHooksLike(Protocol):
    """What an engine with Node's hooks (``tidings.engine.EngineServer``) adds to the
    upgrade: the verdict of an ``async`` ``allow_request``, awaited before the 101, and
    the headers its ``initial_headers``/``headers`` listeners add to the 101. Apart from
    ``EngineLike`` so that an engine without hooks (a test's own) is still hosted."""

    @property
    def events(self) -> UpgradeHeadersLike: ...

    async def websocket_verdict(self, request: HttpRequest) -> HttpResponse | None: ...


def hooks_of(target: object) -> EngineHooksLike | None:
    """``target`` if it has an engine's hooks, else None. Read per upgrade: two attribute
    look-ups, where ``isinstance`` of a runtime protocol costs some 13 us."""
    if callable(getattr(target, "websocket_verdict", None)) and hasattr(target, "events"):
        return cast(EngineHooksLike, target)
    return None


class RouteListener(WebSocketListener, Protocol):
    """The listener of a raw route: also told of pongs and of a drained write buffer."""

    def on_pong(self, payload: bytes) -> None: ...

    def on_drain(self) -> None: ...


class WebSocketRouteLike(WebSocketTarget[Any, RouteListener], Protocol):
    """One raw WebSocket route, upgraded as the engine is. Its transport is a
    ``tidings.websocket_routes.RouteTransport``, which each I/O layer implements."""

    @property
    def max_message_size(self) -> int: ...

    @property
    def write_limit(self) -> int: ...


class WebSocketRoutesLike(Protocol):
    def match(self, path: str) -> WebSocketRouteLike | None: ...


class AppLike(Protocol):
    """An application built on an engine, e.g. ``tidings.Server``."""

    @property
    def engine(self) -> EngineLike: ...


@dataclass(frozen=True, slots=True)
class _NoEngineOptions:
    path: str = "/socket.io/"  # never answered: NoEngine matches no path
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


class HostedApp:
    """The application a server hosts, read once when the server is made
    (called by ``HttpServer`` and ``ASGIApp``)."""

    __slots__ = ("app", "engine", "routes", "static_files")

    def __init__(self, app: EngineLike | AppLike | object) -> None:
        self.app = app
        routes = getattr(app, "websocket_routes", None)
        #: The app's raw WebSocket routes (``.websocket_routes``), if it has any.
        self.routes: WebSocketRoutesLike | None = (
            routes if callable(getattr(routes, "match", None)) else None
        )
        engine = getattr(app, "engine", app)
        if isinstance(engine, EngineLike):
            self.engine: EngineLike = engine
        elif self.routes is not None:
            self.engine = NoEngine()
        else:
            raise TypeError(
                f"{type(app).__name__} is neither an EngineServer nor has an .engine that is one,"
                " nor has .websocket_routes"
            )
        mapping = getattr(app, "static_files", None)
        #: The app's own static files (``.static_files``), e.g. those a ``WebSocketRoutes`` wraps.
        self.static_files: dict[str, str | PathLike[str]] = dict(mapping) if mapping else {}

    @property
    def has_engine(self) -> bool:
        """False when only raw routes are hosted (the engine is a ``NoEngine``)."""
        return not isinstance(self.engine, NoEngine)

    def static(self, extra: StaticFilesMap | None = None) -> StaticFiles | None:
        """The app's static files with the server's own ``static_files`` (which win for the
        same URL path), or None when there are none."""
        mounts = {**self.static_files, **(extra or {})}
        return StaticFiles(mounts) if mounts else None

    async def startup(self) -> None:
        """The app's ``startup`` (a ``tidings.Server`` opens its history store), else its
        engine's: sessions are accepted again after a shutdown."""
        startup = getattr(self.app, "startup", None) or getattr(self.engine, "startup", None)
        if startup is not None:
            await startup()

    async def shutdown(self, timeout: float) -> None:
        """The app's ``shutdown(timeout)``, else its engine's. An app that overruns
        ``timeout`` by a second is given up on: ``TimeoutError``, as for any failure."""
        shutdown = getattr(self.app, "shutdown", None) or getattr(self.engine, "shutdown", None)
        if shutdown is not None:
            await asyncio.wait_for(shutdown(timeout), timeout + 1.0)
