"""Engine.IO server options: one frozen, validated object with safe limits."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tidings.engine.compression import HttpCompression
from tidings.engine.hooks import AllowRequest, Cookie, GenerateId
from tidings.engine.owner import check_owner
from tidings.protocol.engineio.session import POLLING, WEBSOCKET, SessionConfig
from tidings.protocol.websocket.deflate import DeflateOptions

__all__ = ["CorsOrigins", "EngineOptions"]

#: None: same origin only; "*": any origin; a string or sequence: those origins;
#: a callable: asked with the request's Origin.
CorsOrigins = None | str | Sequence[str] | Callable[[str], bool]

_KNOWN_TRANSPORTS = (POLLING, WEBSOCKET)


@dataclass(frozen=True, slots=True)
class EngineOptions:
    path: str = "/engine.io/"
    ping_interval: float = 25.0
    ping_timeout: float = 20.0
    #: maxHttpBufferSize: the largest POST body and WebSocket message accepted.
    max_payload: int = 1_000_000
    transports: tuple[str, ...] = (POLLING, WEBSOCKET)
    allow_upgrades: bool = True
    upgrade_timeout: float = 10.0
    max_connections: int = 10_000
    cors_allowed_origins: CorsOrigins = None
    cors_credentials: bool = False
    #: Per-connection outgoing buffer (the polling queue, the WebSocket write
    #: buffer); a session over it is closed with "transport error".
    max_buffered_bytes: int = 10_000_000
    #: Serve the official browser client at ``<path>socket.io.min.js`` (and the other
    #: builds), as Node's socket.io ``serveClient``; off for a bare Engine.IO server,
    #: on by default in ``tidings.Server``.
    serve_client: bool = False
    #: This process's owner tag: session ids become ``f"{owner}.{token}"`` so that another
    #: process can tell where a session lives (``tidings.engine.owner_of``). None: plain
    #: 20-character ids. The built-in server's ``HandoffOptions`` sets it.
    owner: str | None = None
    #: Sessions open at once from one client address (``tidings.engine.admission``): a new
    #: one past it is refused 429. None: no bound (the default: behind a proxy every
    #: client has the proxy's address).
    max_sessions_per_address: int | None = None
    #: New sessions (handshakes) per second from one client address, in bursts of
    #: ``handshake_burst`` (default: one second's worth): past it, 429. None: no bound.
    handshakes_per_second: float | None = None
    handshake_burst: float | None = None
    #: permessage-deflate on WebSocket connections (Node's ``perMessageDeflate``): off by
    #: default, as in Node; True takes ``DeflateOptions()``.
    per_message_deflate: bool | DeflateOptions = False
    #: gzip/deflate of long-polling responses the client accepts compressed (Node's
    #: ``httpCompression``): on by default; True takes ``HttpCompression()``.
    http_compression: bool | HttpCompression = True
    #: Asked before a new session is made (Node's ``allowRequest``): ``fn(request)`` returns
    #: True to let it in, False to refuse it (403 ``Forbidden``) or a string to refuse it
    #: with that message; may be ``async`` (docs/engine-hooks.md).
    allow_request: AllowRequest | None = None
    #: Makes each new session's id from its handshake request (Node's ``generateId``); may
    #: be ``async``. With an ``owner`` tag the id becomes ``f"{owner}.{generated}"``.
    generate_id: GenerateId | None = None
    #: Set a cookie with the session id on the handshake response (Node's ``cookie``): off
    #: by default; True takes ``Cookie()`` (``io``, ``Path=/; HttpOnly; SameSite=Lax``).
    cookie: bool | Cookie = False

    def __post_init__(self) -> None:
        path = self.path
        if not isinstance(path, str) or not path.startswith("/"):
            raise ValueError(f"path must start with '/', got {path!r}")
        if not path.endswith("/"):
            object.__setattr__(self, "path", path + "/")
        for name in ("ping_interval", "ping_timeout", "upgrade_timeout"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
        for name in ("max_payload", "max_connections", "max_buffered_bytes"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        for name in ("max_sessions_per_address", "handshakes_per_second", "handshake_burst"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not value > 0):
                raise ValueError(f"{name} must be positive or None, got {value!r}")
        if self.owner is not None:
            check_owner(self.owner)
        deflate = self.per_message_deflate
        if deflate is True:
            object.__setattr__(self, "per_message_deflate", DeflateOptions())
        elif deflate is not False and not isinstance(deflate, DeflateOptions):
            raise TypeError(f"per_message_deflate must be a bool or DeflateOptions, got {deflate!r}")
        http = self.http_compression
        if http is True:
            object.__setattr__(self, "http_compression", HttpCompression())
        elif http is not False and not isinstance(http, HttpCompression):
            raise TypeError(f"http_compression must be a bool or HttpCompression, got {http!r}")
        cookie = self.cookie
        if cookie is True:
            object.__setattr__(self, "cookie", Cookie())
        elif cookie is not False and not isinstance(cookie, Cookie):
            raise TypeError(f"cookie must be a bool or Cookie, got {cookie!r}")
        for name in ("allow_request", "generate_id"):
            if getattr(self, name) is not None and not callable(getattr(self, name)):
                raise TypeError(f"{name} must be a callable or None")
        if not isinstance(self.serve_client, bool):
            raise TypeError(f"serve_client must be True or False, got {self.serve_client!r}")
        transports = tuple(self.transports)
        if not transports or any(t not in _KNOWN_TRANSPORTS for t in transports):
            raise ValueError(f"transports must be a non-empty subset of {_KNOWN_TRANSPORTS}")
        object.__setattr__(self, "transports", transports)
        origins = self.cors_allowed_origins
        if isinstance(origins, str) or origins is None or callable(origins):
            pass
        elif isinstance(origins, Sequence) and all(isinstance(o, str) for o in origins):
            object.__setattr__(self, "cors_allowed_origins", tuple(origins))
        else:
            raise ValueError("cors_allowed_origins must be None, '*', origins or a callable")
        if origins == "*" and self.cors_credentials:
            # Echoing any Origin with credentials would let every site act with the user's
            # cookies; browsers refuse a literal "*" with credentials. Neither is wanted.
            raise ValueError(
                "cors_allowed_origins='*' cannot go with cors_credentials=True: list the "
                "origins allowed to send credentials (or give a callable that decides)"
            )

    @property
    def upgrades(self) -> tuple[str, ...]:
        """Transports a polling session is offered in its handshake."""
        if self.allow_upgrades and WEBSOCKET in self.transports:
            return (WEBSOCKET,)
        return ()

    def session_config(self) -> SessionConfig:
        return SessionConfig(
            ping_interval=self.ping_interval,
            ping_timeout=self.ping_timeout,
            max_payload=self.max_payload,
            upgrade_timeout=self.upgrade_timeout,
            max_buffered_bytes=self.max_buffered_bytes,
            upgrades=self.upgrades,
        )
