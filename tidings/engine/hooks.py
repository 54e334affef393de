"""The hooks of Node's engine.io server: ``allowRequest``, ``generateId``, ``cookie``, and the
``connection_error``, ``initial_headers`` and ``headers`` events (docs/engine-hooks.md).

``EngineServer`` holds one ``EngineEvents``; the options are fields of ``EngineOptions``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote

from tidings.engine.io import HttpRequest

__all__ = ["AllowRequest", "Cookie", "EngineEvents", "GenerateId", "RefusedRequest"]

logger = logging.getLogger("tidings.engineio")

#: ``allow_request(request)``: True lets a new session in; False refuses it (403
#: ``Forbidden``); a string refuses it with that message. May be ``async``.
AllowRequest = Callable[[HttpRequest], "bool | str | Awaitable[bool | str]"]
#: ``generate_id(request)``: the new session's id (Node's ``generateId``). May be ``async``.
GenerateId = Callable[[HttpRequest], "str | Awaitable[str]"]
#: ``headers`` and ``initial_headers`` listeners: ``fn(headers, request)``, ``headers`` a
#: dict of the response's headers they may add to or change.
HeadersListener = Callable[[dict[str, str], HttpRequest], Any]

EVENTS = ("connection_error", "initial_headers", "headers")


@dataclass(frozen=True, slots=True)
class Cookie:
    """The cookie set with the session id on the handshake response (Node's ``cookie``)."""

    name: str = "io"
    path: str | None = "/"
    http_only: bool = True
    same_site: Literal["lax", "strict", "none"] | None = "lax"
    secure: bool = False
    domain: str | None = None
    max_age: int | None = None

    def __post_init__(self) -> None:
        if not self.name or any(c in self.name for c in ' \t;,="()<>@:\\/[]?{}'):
            raise ValueError(f"invalid cookie name {self.name!r}")
        if self.same_site not in (None, "lax", "strict", "none"):
            raise ValueError(f"same_site must be 'lax', 'strict', 'none' or None, got {self.same_site!r}")

    def header(self, sid: str) -> str:
        """The ``Set-Cookie`` value for session ``sid``, attributes in Node's order."""
        parts = [f"{self.name}={quote(sid, safe='')}"]
        if self.max_age is not None:
            parts.append(f"Max-Age={int(self.max_age)}")
        if self.domain:
            parts.append(f"Domain={self.domain}")
        if self.path:
            parts.append(f"Path={self.path}")
        if self.http_only:
            parts.append("HttpOnly")
        if self.secure:
            parts.append("Secure")
        if self.same_site:
            parts.append(f"SameSite={self.same_site.capitalize()}")
        return "; ".join(parts)


@dataclass(slots=True)
class RefusedRequest:
    """What ``connection_error`` listeners get: Node's ``{req, code, message, context}``.

    ``code`` is Engine.IO's (0 unknown transport, 1 unknown session id, 2 bad handshake
    method, 3 bad request, 4 forbidden, 5 unsupported protocol version) and ``message``
    its fixed text; ``context`` says more (``{"sid": ...}``, ``{"name": ...}``...).
    """

    req: HttpRequest
    code: int
    message: str
    context: dict[str, Any] = field(default_factory=dict)


class EngineEvents:
    """The engine's own listeners, in order of registration; a failing one is logged."""

    __slots__ = ("connection_error", "headers", "initial_headers")

    def __init__(self) -> None:
        self.connection_error: list[Callable[[RefusedRequest], Any]] = []
        self.initial_headers: list[HeadersListener] = []
        self.headers: list[HeadersListener] = []

    def add(self, event: str, listener: Callable[..., Any]) -> None:
        getattr(self, event).append(listener)

    def refused(self, error: RefusedRequest) -> None:
        for listener in tuple(self.connection_error):
            try:
                listener(error)
            except Exception:
                logger.exception("connection_error listener %r failed", listener)

    def response_headers(
        self, headers: list[tuple[str, str]], request: HttpRequest, initial: bool, cookie: str | None
    ) -> list[tuple[str, str]]:
        """``headers`` as the listeners leave them (``cookie``: the handshake's Set-Cookie)."""
        if not initial and not self.headers:
            return headers
        table = dict(headers)
        if initial:
            if cookie is not None:
                table["Set-Cookie"] = cookie
            self._call(self.initial_headers, table, request)
        self._call(self.headers, table, request)
        return [(name, str(value)) for name, value in table.items()]

    def upgrade_headers(self, request: HttpRequest) -> list[tuple[str, str]]:
        """What the listeners add to the 101 of an accepted WebSocket (``initial_headers`` too
        for a new session), for the I/O layers, which send them with it."""
        if not self.headers and not self.initial_headers:
            return []
        return self.response_headers([], request, "sid" not in request.query, None)

    @staticmethod
    def _call(listeners: list[HeadersListener], table: dict[str, str], request: HttpRequest) -> None:
        for listener in tuple(listeners):
            try:
                listener(table, request)
            except Exception:
                logger.exception("headers listener %r failed", listener)
